// Package archtest holds a test that enforces the direction of imports
// between Herald's packages.
package archtest
