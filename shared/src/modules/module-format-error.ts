/**
 * The input is not a well-formed x86_64 ELF64 (little-endian) or PE32+ (AMD64) image: wrong
 * magic, class, machine or type, a truncated file, or headers that contradict each other.
 * Parsing never throws anything else for any input bytes.
 */
export class ModuleFormatError extends Error {
  override name = 'ModuleFormatError';
  readonly code = 'MODULE_FORMAT';
}
