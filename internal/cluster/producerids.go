package cluster

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/longboat/longboat/internal/meta"
)

// producerIDBlock is how many producer ids a broker takes from __meta at once.
const producerIDBlock = 1000

// producerIDs hands out this broker's producer ids, a block from __meta at
// a time. Blocks are never reused, so an id is unique in the cluster forever.
type producerIDs struct {
	propose proposeMetaFunc

	mu        sync.Mutex
	from, end int64 // this broker's unused producer ids [from, end)
}

// next hands out a producer id from the current block, taking a new block
// through __meta when it runs out.
func (p *producerIDs) next(ctx context.Context) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.from == p.end {
		size := int64(producerIDBlock)
		data, err := p.propose(ctx, meta.Command{AllocProducerIDs: &size})
		if err != nil {
			return 0, fmt.Errorf("allocate producer ids: %w", err)
		}
		start, err := strconv.ParseInt(string(data), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("allocate producer ids: bad block start %q", data)
		}
		p.from, p.end = start, start+size
	}
	id := p.from
	p.from++
	return id, nil
}
