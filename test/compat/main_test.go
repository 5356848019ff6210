package compat

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	txnCluster.Close()
	closeJava()
	os.Exit(code)
}
