package redisproc

import "syscall"

// killWithParent makes the kernel kill redis-server if the test binary dies
// without running stop (a -timeout panic, a kill -9), so no orphan servers
// pile up on the machine.
func killWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
