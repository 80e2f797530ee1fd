/** PyTorch checkpoint interop: read `torch.save` files (zip and legacy) and write zip-format state dicts. */
export { type NamedTensor, readTorchCheckpoint, type TorchCheckpoint, TorchFormatError } from "./read.ts";
export { writeTorchStateDict } from "./write.ts";
