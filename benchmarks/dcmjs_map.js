#!/usr/bin/env node
// The `map` command's work done with dcmjs, for the map benchmark:
//
//   node benchmarks/dcmjs_map.js FILE > out.json
//
// Reads FILE (a PS3.18 F.2 JSON array of datasets), JSON.parse, the pinned dcmjs's
// DicomMetaDictionary.naturalizeDataset per dataset, JSON.stringify of the array,
// written to stdout: what `dicomweb2ohif map FILE` does, as a whole process.
"use strict";
const path = require("path");
const fs = require("fs");
const { createRequire } = require("module");

const dcmjs = createRequire(path.join(__dirname, "..", "tests", "dcmjs", "package.json"))("dcmjs");
const naturalize = dcmjs.data.DicomMetaDictionary.naturalizeDataset;

const datasets = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const out = datasets.map(ds => naturalize(ds));
fs.writeSync(1, JSON.stringify(out) + "\n");
