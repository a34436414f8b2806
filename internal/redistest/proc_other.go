//go:build !linux

package redistest

import "syscall"

// killWithParent has no portable equivalent outside Linux; stop must run.
func killWithParent() *syscall.SysProcAttr { return nil }
