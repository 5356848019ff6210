package recordbatch

import (
	"bytes"
	"fmt"
	"io"
	"iter"
)

// Split cuts the first batch off b. It fails, wrapping ErrCorrupt, when b
// does not start with a whole batch: fewer bytes than a header, or a
// length field below the header size or past the end of b. Nothing else
// is checked.
func Split(b []byte) (batch, rest []byte, err error) {
	n, ok := wholeBatch(b)
	switch {
	case ok:
		return b[:n], b[n:], nil
	case len(b) < HeaderSize:
		return nil, b, fmt.Errorf("%w: %d bytes are shorter than a batch header", ErrCorrupt, len(b))
	default:
		return nil, b, fmt.Errorf("%w: batch length %d does not fit the %d bytes there", ErrCorrupt, n, len(b))
	}
}

// wholeBatch returns the length field of the batch at the start of b and
// whether a whole batch of that length is there.
func wholeBatch(b []byte) (int64, bool) {
	if len(b) < HeaderSize {
		return 0, false
	}
	n := length(b)
	return n, n >= HeaderSize && n <= int64(len(b))
}

// All yields the whole batches at the start of b with their headers, and
// stops without complaint at the first bytes that are not one (as Split
// judges them): for data already known to be batches, such as log reads.
// It allocates nothing: it runs on every append a partition applies.
func All(b []byte) iter.Seq2[Header, []byte] {
	return func(yield func(Header, []byte) bool) {
		for {
			n, ok := wholeBatch(b)
			if !ok || !yield(ParseHeader(b[:n]), b[:n]) {
				return
			}
			b = b[n:]
		}
	}
}

// WholeLen is how many leading bytes of b are whole batches.
func WholeLen(b []byte) int {
	n := 0
	for _, batch := range All(b) {
		n += len(batch)
	}
	return n
}

// Read reads the next batch from a stream of concatenated batches into
// buf's storage (grown as needed) and returns it. A batch cut short is an
// error; a length below the header size wraps ErrCorrupt. Memory grows
// with the bytes that actually arrive, not with what a damaged length
// field claims.
func Read(r io.Reader, buf []byte) ([]byte, error) {
	var prefix [LengthPrefix]byte
	if _, err := io.ReadFull(r, prefix[:]); err != nil {
		return nil, err
	}
	n := length(prefix[:])
	if n < HeaderSize {
		return nil, fmt.Errorf("%w: batch length %d is shorter than the %d-byte header", ErrCorrupt, n, HeaderSize)
	}
	b := bytes.NewBuffer(buf[:0])
	b.Write(prefix[:])
	if _, err := io.CopyN(b, r, n-LengthPrefix); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("batch of %d bytes: %w", n, err)
	}
	return b.Bytes(), nil
}
