package recordbatch

import "fmt"

// Set summarises a validated produce record set.
type Set struct {
	Records      int  // records in all batches
	Batches      int  // batches in the set
	LargestBatch int  // bytes of the largest batch
	Idempotent   bool // some batch carries a producer id and sequence
}

// Validate checks that b, as a client sent it, is a sequence of whole v2
// batches, each with a correct CRC-32C and a record count that agrees with
// its last offset delta. A magic other than 2 wraps ErrUnsupportedMagic,
// anything else wrong ErrCorrupt.
func Validate(b []byte) (Set, error) {
	var s Set
	if len(b) == 0 {
		return s, fmt.Errorf("%w: empty record set", ErrCorrupt)
	}
	for len(b) > 0 {
		// Magic first: an old (v0/v1) message set can be shorter than a
		// v2 header, and keeps its magic at the same place.
		if len(b) > offMagic && b[offMagic] != Magic {
			return s, fmt.Errorf("%w: magic %d", ErrUnsupportedMagic, b[offMagic])
		}
		batch, rest, err := Split(b)
		if err != nil {
			return s, err
		}
		if !ValidCRC(batch) {
			return s, fmt.Errorf("%w: CRC-32C mismatch", ErrCorrupt)
		}
		h := ParseHeader(batch)
		if h.LastOffsetDelta < 0 || h.Records <= 0 || h.LastOffsetDelta+1 != h.Records {
			return s, fmt.Errorf("%w: lastOffsetDelta %d with %d records", ErrCorrupt, h.LastOffsetDelta, h.Records)
		}
		s.Records += int(h.Records)
		s.Batches++
		s.LargestBatch = max(s.LargestBatch, len(batch))
		s.Idempotent = s.Idempotent || h.Idempotent()
		b = rest
	}
	return s, nil
}

// CountRecords sums the record counts of the whole batches at the start of
// b without validating them (for metrics on the fetch path).
func CountRecords(b []byte) int {
	n := 0
	for h := range All(b) {
		n += int(h.Records)
	}
	return n
}
