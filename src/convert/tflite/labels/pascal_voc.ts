/**
 * The 21 PASCAL VOC 2012 segmentation classes (index 0 = background), the labels of Google's
 * DeepLabV3 releases and of transformers' `pascal-voc-id2label.json`.
 *
 * Source: the DeepLabV3 label file distributed with flutter_tflite's example app (MIT License,
 * Copyright (c) 2018 Qian Sha); class names as defined by the PASCAL VOC challenge.
 */

/** The 21 PASCAL VOC labels, `background` first. */
export const PASCAL_VOC_LABELS: readonly string[] = [
  "background",
  "aeroplane",
  "bicycle",
  "bird",
  "boat",
  "bottle",
  "bus",
  "car",
  "cat",
  "chair",
  "cow",
  "diningtable",
  "dog",
  "horse",
  "motorbike",
  "person",
  "pottedplant",
  "sheep",
  "sofa",
  "train",
  "tvmonitor",
];
