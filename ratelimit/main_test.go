package ratelimit_test

import (
	"testing"

	"github.com/tenantd/tenantd/internal/redistest"
)

func TestMain(m *testing.M) { redistest.Main(m) }
