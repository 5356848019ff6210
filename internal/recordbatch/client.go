package recordbatch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

var (
	// ErrInvalidRecord marks a well-formed batch a client may not write
	// (Kafka's INVALID_RECORD).
	ErrInvalidRecord = errors.New("invalid record")
	// ErrInvalidTimestamp marks a record timestamp outside the topic's
	// message.timestamp.before/after.max.ms (INVALID_TIMESTAMP).
	ErrInvalidTimestamp = errors.New("invalid record timestamp")
	// ErrUnsupportedCodec marks a compression codec other than 0..4
	// (UNSUPPORTED_COMPRESSION_TYPE).
	ErrUnsupportedCodec = errors.New("unsupported compression codec")
)

// maxCodec is zstd, the highest codec id Kafka defines.
const maxCodec = 4

// ClientRules are the topic's limits on what a producer writes.
type ClientRules struct {
	NowMs int64 // the broker's clock
	// CreateTime is set unless the topic stamps LogAppendTime.
	CreateTime bool
	// A CreateTime record may be at most TimestampBeforeMaxMs older and
	// TimestampAfterMaxMs newer than NowMs.
	TimestampBeforeMaxMs, TimestampAfterMaxMs int64
	// RequireKeys is set on a compacted topic: the cleaner keeps the last
	// record of each key, so a record without one is refused
	// (LogValidator.validateKey, INVALID_RECORD), in compressed batches too.
	RequireKeys bool
	// Target is the topic's compression.type: batches with another codec
	// are recompressed with it, at Levels; CodecProducer keeps every batch.
	Target Codec
	Levels Levels
}

// CheckClient applies Kafka's LogValidator rules for batches from a
// client to a record set Validate accepted (see PrepareClient), without
// converting any batch.
func CheckClient(b []byte, r ClientRules) error {
	r.Target = CodecProducer
	_, err := PrepareClient(b, r)
	return err
}

// PrepareClient applies Kafka's LogValidator rules for batches from a
// client to a record set Validate accepted and returns the record set to
// store: b itself unless r.Target asks for another codec than some batch
// has, in which case those batches are recompressed (records, producer
// id, epoch, sequence, timestamps and other attributes unchanged; CRC
// recomputed).
//
// The rules: a known codec, no control batch, a sequence with every
// producer id, and records that fill the batch exactly in the claimed
// count (else ErrCorrupt), with offset deltas 0, 1, 2, ... (the broker
// stores the client's bytes, so it cannot renumber them as Kafka does),
// timestamps within the topic's limits and, on a compacted topic, keys.
// A compressed batch is decompressed only when it must be (a compacted
// topic, or a codec to change); otherwise its first and max timestamps
// are checked instead of each record's.
func PrepareClient(b []byte, r ClientRules) ([]byte, error) {
	all := b
	var out []byte // nil until a batch is rewritten
	for len(b) > 0 {
		batch, rest, err := Split(b)
		if err != nil {
			return nil, err
		}
		done := len(all) - len(b)
		b = rest
		h := ParseHeader(batch)
		codec := h.Codec()
		switch {
		case codec > maxCodec:
			return nil, fmt.Errorf("%w: codec %d", ErrUnsupportedCodec, codec)
		case h.Attributes&AttrControl != 0:
			return nil, fmt.Errorf("%w: clients may not write control batches", ErrInvalidRecord)
		case h.Transactional() && !h.Idempotent():
			return nil, fmt.Errorf("%w: transactional batch without a producer id and sequence", ErrInvalidRecord)
		case h.ProducerID >= 0 && h.BaseSequence < 0:
			return nil, fmt.Errorf("%w: producer id %d without a sequence", ErrInvalidRecord, h.ProducerID)
		}
		recode := r.Target != CodecProducer && codec != r.Target
		recs := batch[HeaderSize:]
		switch {
		case codec != CodecNone && !recode && !r.RequireKeys:
			for _, ts := range []int64{h.BaseTimestamp, h.MaxTimestamp} {
				if err := r.checkTimestamp(h, ts); err != nil {
					return nil, err
				}
			}
		case codec != CodecNone:
			if recs, err = Decompress(codec, recs); err != nil {
				return nil, err
			}
			fallthrough
		default:
			if err := r.checkRecords(h, recs); err != nil {
				return nil, err
			}
		}
		if !recode {
			if out != nil {
				out = append(out, batch...)
			}
			continue
		}
		if out == nil {
			out = append(make([]byte, 0, len(all)), all[:done]...)
		}
		if out, err = AppendRecompressed(out, h, recs, r.Target, r.Levels); err != nil {
			return nil, err
		}
	}
	if out == nil {
		return all, nil
	}
	return out, nil
}

// checkRecords walks an uncompressed batch's records.
func (r ClientRules) checkRecords(h Header, recs []byte) error {
	for i := int32(0); i < h.Records; i++ {
		length, n := binary.Varint(recs)
		if n <= 0 || length < 0 || length > int64(len(recs)-n) {
			return fmt.Errorf("%w: batch claims %d records but its bytes end at record %d", ErrCorrupt, h.Records, i)
		}
		tsDelta, offsetDelta, err := recordFields(recs[n : n+int(length)])
		if err != nil {
			return fmt.Errorf("%w: record %d: %v", ErrCorrupt, i, err)
		}
		if offsetDelta != int64(i) {
			return fmt.Errorf("%w: record %d has offset delta %d", ErrInvalidRecord, i, offsetDelta)
		}
		if r.RequireKeys {
			if rec, err := parseRecord(recs[n : n+int(length)]); err != nil || rec.Key == nil {
				return fmt.Errorf("%w: compacted topic cannot accept a record without a key (record %d)", ErrInvalidRecord, i)
			}
		}
		if err := r.checkTimestamp(h, h.BaseTimestamp+tsDelta); err != nil {
			return err
		}
		recs = recs[n+int(length):]
	}
	if len(recs) > 0 {
		return fmt.Errorf("%w: %d bytes after the batch's %d records", ErrCorrupt, len(recs), h.Records)
	}
	return nil
}

// recordFields parses one record body (after its length) to its end and
// returns its timestamp and offset deltas.
func recordFields(b []byte) (tsDelta, offsetDelta int64, err error) {
	p := recordParser{b: b}
	p.skip(1) // attributes
	tsDelta = p.varint()
	offsetDelta = p.varint()
	p.bytes(true) // key
	p.bytes(true) // value
	headers := p.varint()
	if headers < 0 && p.err == nil {
		p.err = fmt.Errorf("%d headers", headers)
	}
	for j := int64(0); j < headers && p.err == nil; j++ {
		p.bytes(false) // header key
		p.bytes(true)  // header value
	}
	if p.err == nil && len(p.b) > 0 {
		p.err = fmt.Errorf("%d bytes past the record's fields", len(p.b))
	}
	return tsDelta, offsetDelta, p.err
}

// recordParser reads a record's fields, keeping the first error.
type recordParser struct {
	b   []byte
	err error
}

func (p *recordParser) skip(n int) {
	if p.err != nil {
		return
	}
	if n > len(p.b) {
		p.err = errors.New("field past the record's end")
		return
	}
	p.b = p.b[n:]
}

func (p *recordParser) varint() int64 {
	if p.err != nil {
		return 0
	}
	v, n := binary.Varint(p.b)
	if n <= 0 {
		p.err = errors.New("bad varint")
		return 0
	}
	p.b = p.b[n:]
	return v
}

// bytes skips a length-prefixed field; -1 (null) is allowed when nullable.
func (p *recordParser) bytes(nullable bool) {
	n := p.varint()
	switch {
	case p.err != nil:
	case n == -1 && nullable:
	case n < 0 || n > int64(len(p.b)):
		p.err = fmt.Errorf("field length %d", n)
	default:
		p.b = p.b[n:]
	}
}

// checkTimestamp is Kafka's validateTimestamp: a CreateTime record with a
// timestamp must lie in [now-before, now+after]; a client may not claim
// LogAppendTime itself.
func (r ClientRules) checkTimestamp(h Header, ts int64) error {
	if r.CreateTime && ts != -1 {
		lo := r.NowMs - r.TimestampBeforeMaxMs
		hi := int64(math.MaxInt64)
		if r.TimestampAfterMaxMs < math.MaxInt64-r.NowMs {
			hi = r.NowMs + r.TimestampAfterMaxMs
		}
		if ts < lo || ts > hi {
			return fmt.Errorf("%w: %d is outside [%d, %d]", ErrInvalidTimestamp, ts, lo, hi)
		}
		return nil
	}
	if h.LogAppendTime() {
		return fmt.Errorf("%w: a producer may not set the LogAppendTime type", ErrInvalidTimestamp)
	}
	return nil
}
