#!/usr/bin/env node
// The reading work of OHIF's .scripts/dicom-json-generator.js, for the folder benchmark.
//
//   node benchmarks/dcmjs_generator_read.js DIR   -> {"files": n, "instances": k}
//
// What the generator does per file, with the pinned dcmjs of tests/dcmjs: walk DIR
// recursively (fs.promises readdir + stat, as the generator does), fs.readFile,
// dcmjs.data.DicomMessage.readFile(buffer.buffer), DicomMetaDictionary.naturalizeDataset.
// It skips the generator's model building and JSON writing (less work than the
// generator, never more), and it also skips hidden files as dicomweb2ohif does.
"use strict";
const path = require("path");
const fs = require("fs").promises;
const { createRequire } = require("module");

const dcmjs = createRequire(path.join(__dirname, "..", "tests", "dcmjs", "package.json"))("dcmjs");

async function recursiveReadDir(dir) {
  let results = [];
  const list = (await fs.readdir(dir)).sort();
  for (const name of list) {
    if (name.startsWith(".")) continue;
    const filePath = path.resolve(dir, name);
    const stat = await fs.stat(filePath);
    if (stat.isDirectory()) {
      results = results.concat(await recursiveReadDir(filePath));
    } else {
      results.push(filePath);
    }
  }
  return results;
}

async function main() {
  const dir = process.argv[2];
  if (!dir) {
    console.error("usage: node dcmjs_generator_read.js DIR");
    process.exit(2);
  }
  const files = await recursiveReadDir(dir);
  const sops = new Set();
  for (const file of files) {
    const arrayBuffer = await fs.readFile(file);
    const dicomDict = dcmjs.data.DicomMessage.readFile(arrayBuffer.buffer);
    const instance = dcmjs.data.DicomMetaDictionary.naturalizeDataset(dicomDict.dict);
    sops.add(instance.SOPInstanceUID);
  }
  process.stdout.write(JSON.stringify({ files: files.length, instances: sops.size }) + "\n");
}

main().catch(err => {
  console.error(err);
  process.exit(1);
});
