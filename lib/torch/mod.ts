/** PyTorch checkpoint interop: read `torch.save` files (zip and legacy) and write zip-format state dicts. */
export {
  type NamedTensor,
  readTorchCheckpoint,
  type ReadTorchOptions,
  type TensorInfo,
  type TorchCheckpoint,
  TorchFormatError,
  UntrustedCheckpointError,
} from "./read.ts";
export { writeTorchStateDict } from "./write.ts";
