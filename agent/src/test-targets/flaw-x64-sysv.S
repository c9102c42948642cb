/* The flawed bounds check, in assembly so its bytes and RVAs are the same with every compiler:
 * check_len(n) should accept n < 16 (a 16-byte buffer needs room for the terminator) but
 * accepts n <= 16 (`jg` where `jge` belongs). */
	.text
	.globl check_len
	.type check_len, @function
	.p2align 4
check_len:
	cmpl $16, %edi      /* 83 ff 10 */
	jg 1f               /* 7f 06 : the flaw */
	movl $1, %eax       /* b8 01 00 00 00 : accept */
	ret
1:	xorl %eax, %eax     /* 31 c0 : reject */
	ret
	.size check_len, .-check_len
	.section .note.GNU-stack,"",@progbits
