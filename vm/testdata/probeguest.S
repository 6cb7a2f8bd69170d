/*
 * probeguest.S: the accelerator probe's guest (vm/probeguest.go holds its
 * bytes; TestProbeGuestMatchesItsSource assembles this file and compares).
 *
 * A 512-byte boot sector that SeaBIOS loads at 0x7c00 in real mode. It
 * does, in miniature, what a guest kernel does first: enables A20, builds
 * identity and higher-half page tables (2 MiB pages), enters 64-bit long
 * mode, jumps to 0xffffffff80007c00+ (where Linux runs), loads an IDT,
 * does a locked 16-byte compare-and-exchange on its own live page table,
 * programs the PIC and the PIT, and waits for 3 timer interrupts. Only then
 * does it write the marker line to COM1 and leave QEMU through
 * isa-debug-exit (port 0xf4, value 0x10: QEMU exits with status 33).
 * Reaching SeaBIOS's prompt proves nothing (it appears even under KVMs
 * that cannot run a guest kernel); this line is printed from 64-bit code
 * after interrupts have been delivered.
 *
 * The compare-and-exchange is what Linux's SLUB allocator does to struct
 * pages (cmpxchg_double). A KVM that shadows guest page tables and traps
 * writes to them (kvm_pvm) must emulate it, and KVM's instruction emulator
 * cannot: QEMU reports "KVM internal error. Suberror: 1" (emulation
 * failure) and the guest stops. kvm_pvm runs the rest of this guest, then
 * stops a real Linux guest tens of seconds into its boot this way.
 *
 * Build: as --64 -o probe.o probeguest.S && objcopy -O binary -j .text probe.o probe.bin
 */
	.code16
	.org 0
start:
	cli
	xor %ax, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov $0x7c00, %sp
	in $0x92, %al                 /* fast A20 */
	or $2, %al
	and $0xfe, %al
	out %al, $0x92
	mov $0x1000, %di              /* zero 0x1000-0x4fff: page tables, IDT */
	mov $0x2000, %cx
	xor %ax, %ax
	rep stosw
	movw $0x2003, 0x1000          /* PML4[0]   -> PDPT at 0x2000 */
	movw $0x3003, 0x2000          /* PDPT[0]   -> PD at 0x3000 */
	movw $0x0083, 0x3000          /* PD[0]     =  2 MiB page at 0 */
	movw $0x2003, 0x1ff8          /* PML4[511] -> the same PDPT */
	movw $0x3003, 0x2ff0          /* PDPT[510] -> the same PD: 0xffffffff80000000 = 0 */
	movw $(tick - start + 0x7c00), 0x4200 /* IDT[0x20]: tick, selector 8, interrupt gate */
	movw $0x0008, 0x4202
	movw $0x8e00, 0x4204
	mov %cr4, %eax                /* PAE */
	or $0x20, %eax
	mov %eax, %cr4
	mov $0x1000, %eax
	mov %eax, %cr3
	mov $0xc0000080, %ecx         /* EFER.LME */
	rdmsr
	or $0x100, %eax
	wrmsr
	lgdtl gdtr - start + 0x7c00
	mov %cr0, %eax                /* protection and paging at once */
	or $0x80000001, %eax
	mov %eax, %cr0
	ljmpl $0x08, $(long - start + 0x7c00)

	.code64
long:
	movabs $(0xffffffff80000000 + high - start + 0x7c00), %rax
	jmp *%rax
high:
	mov $0x10, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov $0x7c00, %esp
	lidt idtr(%rip)
	mov $1, %eax                  /* CPUID.1:ECX.CX16: has cmpxchg16b */
	cpuid
	bt $13, %ecx
	jnc 5f
	xor %eax, %eax                /* RDX:RAX = RCX:RBX = 0: PML4[2..3] stay 0 */
	xor %edx, %edx
	xor %ebx, %ebx
	xor %ecx, %ecx
	lock cmpxchg16b 0x1010        /* on the live PML4, as SLUB on a page-table page */
5:
	mov $0x11, %al                /* PIC: vectors 0x20/0x28, only IRQ0 open */
	out %al, $0x20
	out %al, $0xa0
	mov $0x20, %al
	out %al, $0x21
	mov $0x28, %al
	out %al, $0xa1
	mov $4, %al
	out %al, $0x21
	mov $2, %al
	out %al, $0xa1
	mov $1, %al
	out %al, $0x21
	out %al, $0xa1
	mov $0xfe, %al
	out %al, $0x21
	mov $0xff, %al
	out %al, $0xa1
	mov $0x34, %al                /* PIT channel 0, rate generator, ~1 kHz */
	out %al, $0x43
	mov $0xa9, %al
	out %al, $0x40
	mov $0x04, %al
	out %al, $0x40
	sti
1:	hlt
	cmpl $3, ticks(%rip)
	jb 1b
	cli
	lea msg(%rip), %rsi           /* the marker line to COM1 */
	mov $0x3f8, %dx
2:	lodsb
	test %al, %al
	jz 3f
	out %al, %dx
	jmp 2b
3:	mov $0xf4, %dx                /* isa-debug-exit: QEMU exits (0x10 << 1) | 1 = 33 */
	mov $0x10, %al
	out %al, %dx
4:	hlt
	jmp 4b

tick:
	push %rax
	incl ticks(%rip)
	mov $0x20, %al                /* end of interrupt */
	out %al, $0x20
	pop %rax
	iretq

	.p2align 3
gdt:
	.quad 0
	.quad 0x00209a0000000000      /* 64-bit code */
	.quad 0x0000920000000000      /* data */
gdtr:
	.word gdtr - gdt - 1
	.long gdt - start + 0x7c00
idtr:
	.word 0x20f
	.quad 0x4000
ticks:
	.long 0
msg:
	.asciz "ukbench-kvm-probe: 64-bit, higher half, 3 timer interrupts\n"
	.org 510
	.byte 0x55, 0xaa
