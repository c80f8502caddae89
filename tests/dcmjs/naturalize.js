#!/usr/bin/env node
// Reference side of the dcmjs agreement test and the mapper benchmark.
//
//   node naturalize.js < datasets.json            -> {"natural": [...], "names": {tag: name}}
//                                                   names: the key dcmjs gives every tag seen
//   node naturalize.js --bench N < datasets.json  -> {"instances": k, "seconds": s} for N
//                                                   passes of naturalizeDataset only
//
// Input: a JSON array of PS3.18 F.2 datasets (what .../metadata returns).
"use strict";
const dcmjs = require("dcmjs");

const naturalize = dcmjs.data.DicomMetaDictionary.naturalizeDataset;

function readStdin() {
  const chunks = [];
  const fd = 0;
  const buf = Buffer.alloc(1 << 20);
  const fs = require("fs");
  for (;;) {
    let n;
    try {
      n = fs.readSync(fd, buf, 0, buf.length, null);
    } catch (err) {
      if (err.code === "EAGAIN") continue;
      if (err.code === "EOF") break;
      throw err;
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  return Buffer.concat(chunks).toString("utf8");
}

const datasets = JSON.parse(readStdin());
const args = process.argv.slice(2);
if (args[0] === "--bench") {
  const passes = Number(args[1] || 5);
  naturalize(datasets[0]); // warm the dictionary
  const start = process.hrtime.bigint();
  let count = 0;
  for (let p = 0; p < passes; p++) {
    for (const ds of datasets) {
      naturalize(ds);
      count++;
    }
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  process.stdout.write(JSON.stringify({ instances: count, seconds }) + "\n");
} else {
  const dict = dcmjs.data.DicomMetaDictionary;
  const names = {};
  const collect = ds => {
    for (const [tag, element] of Object.entries(ds)) {
      const entry = dict.dictionary[dict.punctuateTag(tag)];
      names[tag] = entry ? entry.name : tag;
      if (element && element.vr === "SQ" && Array.isArray(element.Value)) {
        element.Value.forEach(item => item && collect(item));
      }
    }
  };
  datasets.forEach(collect);
  const natural = datasets.map(ds => naturalize(ds));
  process.stdout.write(JSON.stringify({ natural, names }));
}
