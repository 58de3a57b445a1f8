/** Registers `onnxruntime-node` as the runtime (imported by the Node entry point). */
import * as ort from 'onnxruntime-node';
import { setOrtModule } from './ort.js';

setOrtModule(ort);
