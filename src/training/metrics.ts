/** Evaluation metrics: classification (top-1/top-5, per class, confusion) and segmentation (pixel accuracy, IoU). */

/** Accuracy of one class. */
export interface ClassAccuracy {
  readonly label: string;
  readonly images: number;
  readonly top1: number;
}

/** A classification evaluation, in the shape `eval --json` prints. */
export interface EvaluationResult {
  readonly images: number;
  readonly top1: number;
  readonly top5: number;
  readonly classes: ClassAccuracy[];
  /** Rows: true class; columns: predicted class (`confusionLabels`). */
  readonly confusion: number[][];
  /** Column names of `confusion`: the classes, then `(other)` when the model has labels beyond them. */
  readonly confusionLabels: string[];
}

/** Label of the confusion column for predictions outside the evaluated classes. */
export const OTHER_COLUMN = '(other)';

/** Counts predictions against the truth, class by class. */
export class ClassificationTally {
  private readonly confusion: number[][];
  private readonly top5Hits: number[];

  /**
   * @param classes the evaluated class names (rows).
   * @param other whether predictions may fall outside them (adds an `(other)` column).
   */
  constructor(private readonly classes: readonly string[], private readonly other: boolean) {
    this.confusion = classes.map(() => new Array<number>(classes.length + (other ? 1 : 0)).fill(0));
    this.top5Hits = classes.map(() => 0);
  }

  /** Records one image: its class, and the predicted classes best first (-1 for one outside them). */
  add(truth: number, ranked: readonly number[]): void {
    const best = ranked[0]!;
    this.confusion[truth]![best < 0 ? this.classes.length : best]!++;
    if (ranked.slice(0, 5).includes(truth)) this.top5Hits[truth]!++;
  }

  /** The metrics so far. */
  result(): EvaluationResult {
    const perClass = this.confusion.map((row) => row.reduce((a, b) => a + b, 0));
    const images = perClass.reduce((a, b) => a + b, 0);
    const correct = this.confusion.reduce((n, row, i) => n + row[i]!, 0);
    return {
      images,
      top1: images ? correct / images : 0,
      top5: images ? this.top5Hits.reduce((a, b) => a + b, 0) / images : 0,
      classes: this.classes.map((label, i) => ({ label, images: perClass[i]!, top1: perClass[i] ? this.confusion[i]![i]! / perClass[i] : 0 })),
      confusion: this.confusion.map((row) => [...row]),
      confusionLabels: this.other ? [...this.classes, OTHER_COLUMN] : [...this.classes],
    };
  }
}

/** IoU of one class. */
export interface ClassIou {
  readonly index: number;
  readonly label: string;
  /** Ground-truth pixels of the class. */
  readonly pixels: number;
  readonly iou: number;
}

/** A segmentation evaluation. */
export interface SegmentationEvaluation {
  readonly images: number;
  /** Pixels compared (ignored ones excluded). */
  readonly pixels: number;
  readonly pixelAccuracy: number;
  /** Mean IoU over the classes present in the truth or the predictions. */
  readonly meanIou: number;
  readonly classes: ClassIou[];
}

/** Counts predicted against true class maps, skipping an ignore index (255 in VOC masks). */
export class SegmentationTally {
  private readonly truthCount: Float64Array;
  private readonly predictedCount: Float64Array;
  private readonly hits: Float64Array;
  private images = 0;

  constructor(private readonly labels: readonly string[], private readonly ignoreIndex = 255) {
    this.truthCount = new Float64Array(labels.length);
    this.predictedCount = new Float64Array(labels.length);
    this.hits = new Float64Array(labels.length);
  }

  /** Records one image's maps (same size); true labels beyond the classes count as wrong for the predicted one. */
  add(truth: ArrayLike<number>, predicted: ArrayLike<number>): void {
    this.images++;
    for (let i = 0; i < truth.length; i++) {
      const t = truth[i]!;
      if (t === this.ignoreIndex) continue;
      const p = predicted[i]!;
      if (t < this.labels.length) this.truthCount[t]!++;
      this.predictedCount[p]!++;
      if (t === p) this.hits[t]!++;
    }
  }

  /** The metrics so far. */
  result(): SegmentationEvaluation {
    const classes: ClassIou[] = [];
    const pixels = this.predictedCount.reduce((a, b) => a + b, 0);
    for (let c = 0; c < this.labels.length; c++) {
      const union = this.truthCount[c]! + this.predictedCount[c]! - this.hits[c]!;
      if (union > 0) classes.push({ index: c, label: this.labels[c]!, pixels: this.truthCount[c]!, iou: this.hits[c]! / union });
    }
    return {
      images: this.images,
      pixels,
      pixelAccuracy: pixels ? this.hits.reduce((a, b) => a + b, 0) / pixels : 0,
      meanIou: classes.length ? classes.reduce((n, c) => n + c.iou, 0) / classes.length : 0,
      classes,
    };
  }
}
