/**
 * Dependency-free ELF64/PE32+ (x86_64) module parsing: identity (sha256, size, build-id or PE
 * header cross-checks) and RVA arithmetic. The RVA definition is in parsed-module.ts.
 */
export { ModuleFormatError } from './module-format-error.ts';
export { elfLoadBias, rvaToAddress, type ParsedModule, type ParseOptions, type Segment } from './parsed-module.ts';
export { bytesAtRva, parseModule } from './parse-module.ts';
export { moduleIdentity, readModuleIdentity } from './identity.ts';
export { ELF_PAGE_SIZE } from './elf.ts';
