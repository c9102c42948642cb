/* The flawed bounds check for the PE targets, in assembly so its bytes and RVAs are the same
 * with every compiler (Windows x64 ABI: n in ecx). check_len(n) should accept n < 16 (a 16-byte
 * buffer needs room for the terminator) but accepts n <= 16 (`jg` where `jge` belongs).
 * spin(stop) loops until *stop is non-zero: a thread parked there makes a change to it busy.
 * Built into the EXE target, or (with -DFLAW_DLL) into flawed.dll, which exports both. */
	.text
	.globl check_len
	.def check_len; .scl 2; .type 32; .endef
	.p2align 4
check_len:
	cmpl $16, %ecx      /* 83 f9 10 */
	jg 1f               /* 7f 06 : the flaw */
	movl $1, %eax       /* b8 01 00 00 00 : accept (check_len+5) */
	ret
1:	xorl %eax, %eax     /* 31 c0 : reject (check_len+11) */
	ret

	.globl spin
	.def spin; .scl 2; .type 32; .endef
	.p2align 4
spin:
	cmpl $0, (%rcx)     /* 83 39 00 */
	je spin             /* 74 fb */
	ret                 /* c3 */

#ifdef FLAW_DLL
	.section .drectve
	.ascii " -export:check_len -export:spin"
#endif
