package chaos

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/recordbatch"
	"github.com/longboat/longboat/internal/storage"
)

// replicaRead reads, from a stopped broker's data directory, every
// partition log holding this run's values, and records one replica-read op
// per batch. Which Kafka partition a shard holds is read from its values
// ("P<partition>:...").
func replicaRead(h *History, broker int, dataDir string) error {
	root := filepath.Join(dataDir, "partitions")
	entries, err := os.ReadDir(root)
	if err != nil {
		return fmt.Errorf("broker %d: %w", broker, err)
	}
	for _, e := range entries {
		if _, err := strconv.ParseUint(e.Name(), 10, 64); err != nil || !e.IsDir() {
			continue
		}
		if err := readReplicaLog(h, broker, filepath.Join(root, e.Name(), "log")); err != nil {
			return fmt.Errorf("broker %d shard %s: %w", broker, e.Name(), err)
		}
	}
	return nil
}

func readReplicaLog(h *History, broker int, dir string) error {
	if _, err := os.Stat(dir); err != nil {
		return nil
	}
	l, err := storage.Open(dir, storage.Options{})
	if err != nil {
		return err
	}
	defer l.Close()
	name := fmt.Sprintf("replica-%d", broker)
	for off := l.StartOffset(); off < l.NextOffset(); {
		buf, err := l.Read(off, 1<<20)
		if err != nil {
			return err
		}
		if len(buf) == 0 {
			break
		}
		for len(buf) > 0 {
			raw, rest, err := recordbatch.Split(buf)
			if err != nil {
				return fmt.Errorf("batch at %d: %w", off, err)
			}
			var b kmsg.RecordBatch
			if err := b.ReadFrom(raw); err != nil {
				return fmt.Errorf("batch at %d: %w", off, err)
			}
			offs, vals, err := batchRecords(&b)
			if err != nil {
				return fmt.Errorf("batch at %d: %w", b.FirstOffset, err)
			}
			if len(vals) > 0 && strings.HasPrefix(vals[0], "P") {
				p, perr := strconv.Atoi(vals[0][1:strings.IndexByte(vals[0], ':')])
				if perr == nil {
					h.Add(Op{Process: name, Type: "ok", F: "replica-read", Broker: broker, Partition: int32(p), Offset: offs[0], Offsets: offs, Values: vals})
				}
			}
			off = b.FirstOffset + int64(b.LastOffsetDelta) + 1
			buf = rest
		}
	}
	return nil
}

// batchRecords decodes an uncompressed batch's records (the chaos
// producers send without compression).
func batchRecords(b *kmsg.RecordBatch) ([]int64, []string, error) {
	if b.Attributes&recordbatch.AttrCompression != 0 {
		return nil, nil, fmt.Errorf("compressed batch")
	}
	raw := b.Records
	var offs []int64
	var vals []string
	for i := int32(0); i < b.NumRecords; i++ {
		length, n := binary.Varint(raw)
		if n <= 0 || int(length)+n > len(raw) {
			return nil, nil, fmt.Errorf("record %d: bad length", i)
		}
		var r kmsg.Record
		if err := r.ReadFrom(raw[:n+int(length)]); err != nil {
			return nil, nil, fmt.Errorf("record %d: %w", i, err)
		}
		offs = append(offs, b.FirstOffset+int64(r.OffsetDelta))
		vals = append(vals, string(r.Value))
		raw = raw[n+int(length):]
	}
	return offs, vals, nil
}
