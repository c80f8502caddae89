#!/usr/bin/env node
// The launch file OHIF's .scripts/dicom-json-generator.js (OHIF/Viewers) would write, for
// the viewer benchmark's size comparison: the real script is not published on npm.
//
//   node benchmarks/dicom_json_generator.js DIR OUT.json URL_PREFIX  -> {"bytes": n, "compact": m}
//
// Written here from the generator's documented output shape, with the pinned dcmjs of
// tests/dcmjs: every file read with DicomMessage.readFile + naturalizeDataset; one study
// entry per StudyInstanceUID and one series entry per SeriesInstanceUID, in file order;
// per instance only a fixed list of attributes (the generator's whitelist below: always
// the image-pixel, geometry and identity ones, the others only when present and truthy);
// a multi-frame instance (NumberOfFrames > 1) becomes one entry per frame, each with the
// same metadata and "?frame=i" on its url, for i = 1 .. NumberOfFrames - 1 (the generator
// leaves out the last frame); urls are "dicomweb:" + URL_PREFIX + the path under DIR;
// NumInstances and Modalities per study; JSON.stringify with a two-space indent (the
// generator's), undefined values dropped. "compact" is the size of the same document
// without indentation, to tell the whitelist from the whitespace.
"use strict";
const path = require("path");
const fs = require("fs").promises;
const { createRequire } = require("module");

const dcmjs = createRequire(path.join(__dirname, "..", "tests", "dcmjs", "package.json"))("dcmjs");

const STUDY_KEYS = ["StudyInstanceUID", "StudyDescription", "StudyDate", "StudyTime",
  "PatientName", "PatientID", "AccessionNumber", "PatientAge", "PatientSex", "PatientWeight"];
const SERIES_KEYS = ["SeriesInstanceUID", "SeriesDescription", "SeriesNumber", "SeriesTime",
  "Modality", "SliceThickness"];
// Written for every instance (undefined ones vanish in JSON.stringify).
const ALWAYS = ["Columns", "Rows", "InstanceNumber", "SOPClassUID", "AcquisitionNumber",
  "PhotometricInterpretation", "BitsAllocated", "BitsStored", "PixelRepresentation",
  "SamplesPerPixel", "PixelSpacing", "HighBit", "ImageOrientationPatient",
  "ImagePositionPatient", "FrameOfReferenceUID", "ImageType", "Modality", "SOPInstanceUID",
  "SeriesInstanceUID", "StudyInstanceUID", "WindowCenter", "WindowWidth", "RescaleIntercept",
  "RescaleSlope"];
// Written only when the value is truthy.
const WHEN_PRESENT = ["ConceptNameCodeSequence", "SeriesDate", "ReferencedSeriesSequence",
  "SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence", "ContentSequence",
  "ContentTemplateSequence", "CurrentRequestedProcedureEvidenceSequence",
  "CodingSchemeIdentificationSequence", "RadiopharmaceuticalInformationSequence",
  "CorrectedImage", "Units", "DecayCorrection", "AcquisitionDate", "AcquisitionTime",
  "PatientWeight"];

function pick(source, keys, onlyTruthy) {
  const out = {};
  for (const key of keys) {
    if (!onlyTruthy || source[key]) out[key] = source[key];
  }
  return out;
}

async function filesUnder(dir) {
  const found = [];
  for (const name of await fs.readdir(dir)) {
    const full = path.resolve(dir, name);
    if ((await fs.stat(full)).isDirectory()) found.push(...(await filesUnder(full)));
    else found.push(full);
  }
  return found;
}

async function main() {
  const [dir, out, prefix] = process.argv.slice(2);
  if (!prefix) {
    console.error("usage: node dicom_json_generator.js DIR OUT.json URL_PREFIX");
    process.exit(2);
  }
  const root = path.resolve(dir);
  const studies = new Map();
  for (const file of await filesUnder(root)) {
    if (file.includes(".DS_Store") || file.includes(".xml")) continue;
    const buffer = await fs.readFile(file);
    const ds = dcmjs.data.DicomMetaDictionary.naturalizeDataset(
      dcmjs.data.DicomMessage.readFile(buffer.buffer).dict);
    if (!studies.has(ds.StudyInstanceUID)) {
      studies.set(ds.StudyInstanceUID, { ...pick(ds, STUDY_KEYS, false),
        PatientID: ds.PatientID || "1234", series: new Map() });
    }
    const study = studies.get(ds.StudyInstanceUID);
    if (!study.series.has(ds.SeriesInstanceUID)) {
      study.series.set(ds.SeriesInstanceUID, { ...pick(ds, SERIES_KEYS, false), instances: [] });
    }
    const url = "dicomweb:" + prefix + file.slice(root.length);
    const metadata = () => ({ ...pick(ds, ALWAYS, false), ...pick(ds, WHEN_PRESENT, true) });
    const entries = study.series.get(ds.SeriesInstanceUID).instances;
    if (ds.NumberOfFrames > 1) {
      for (let frame = 1; frame < ds.NumberOfFrames; frame++) {
        entries.push({ metadata: metadata(), url: `${url}?frame=${frame}` });
      }
    } else {
      entries.push({ metadata: metadata(), url });
    }
  }
  const model = { studies: [...studies.values()].map(study => {
    const series = [...study.series.values()];
    return { ...study, series,
      NumInstances: series.reduce((n, s) => n + s.instances.length, 0),
      Modalities: [...new Set(series.map(s => s.Modality))].join("/") };
  }) };
  const text = JSON.stringify(model, null, 2);
  await fs.writeFile(out, text);
  process.stdout.write(JSON.stringify({
    bytes: Buffer.byteLength(text), compact: Buffer.byteLength(JSON.stringify(model)) }) + "\n");
}

main().catch(err => {
  console.error(err);
  process.exit(1);
});
