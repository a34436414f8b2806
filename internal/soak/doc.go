// Package soak holds the mixed-tenant soak test and the database fault test
// (issue: proof harness). They live in a package of their own because the
// fault test kills the package's PostgreSQL cluster, which no other test
// may share. Run them long with `make soak DURATION=10m TENANTS=1000`.
package soak
