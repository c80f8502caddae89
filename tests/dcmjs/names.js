#!/usr/bin/env node
// The key dcmjs' naturalizeDataset gives each tag: its dictionary name, else the tag.
//   node names.js < tags.json   (a JSON array of 8-hex tags) -> {"tag": "name", ...}
//   node names.js --all         -> every tag in dcmjs' dictionary with its name
"use strict";
const fs = require("fs");
const dict = require("dcmjs").data.DicomMetaDictionary;

const nameOf = tag => {
  const entry = dict.dictionary[dict.punctuateTag(tag)];
  return entry ? entry.name : tag;
};
let tags;
if (process.argv[2] === "--all") {
  tags = Object.values(dict.nameMap).map(e => e.tag.replace(/[(),]/g, ""));
} else {
  tags = JSON.parse(fs.readFileSync(0, "utf8"));
}
const out = {};
for (const tag of tags) out[tag] = nameOf(tag);
process.stdout.write(JSON.stringify(out));
