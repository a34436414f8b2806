//go:build !linux

package redisproc

import "syscall"

// killWithParent has no portable equivalent outside Linux; stop must run.
func killWithParent() *syscall.SysProcAttr { return nil }
