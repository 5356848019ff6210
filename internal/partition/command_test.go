package partition

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/longboat/longboat/internal/recordbatch/batchtest"
)

func TestEncodeAppendLayout(t *testing.T) {
	b := concat(batchtest.Simple(2, 10, 1), batchtest.Simple(3, 20, 2))
	cmd := EncodeAppend(0x0102030405060708, 1700000000123, false, b)
	if cmd[0] != cmdAppend {
		t.Errorf("type byte %d", cmd[0])
	}
	if got := binary.BigEndian.Uint64(cmd[1:]); got != 0x0102030405060708 {
		t.Errorf("term %x", got)
	}
	if got := int64(binary.BigEndian.Uint64(cmd[9:])); got != 1700000000123 {
		t.Errorf("append time %d", got)
	}
	if !bytes.Equal(cmd[appendHeaderSize:], b) {
		t.Errorf("batches not carried verbatim")
	}
	b[0] = 0xff
	if cmd[appendHeaderSize] == 0xff {
		t.Errorf("EncodeAppend aliases the caller's buffer")
	}
}
