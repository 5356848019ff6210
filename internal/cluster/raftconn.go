package cluster

import (
	"context"
	"time"

	"github.com/lni/dragonboat/v4/raftio"
	pb "github.com/lni/dragonboat/v4/raftpb"
)

// raftConnIdleRedial is how long a Raft connection may send nothing before
// its next batch goes over a new one instead. A broker that restarted
// since a connection to it last carried anything left that connection
// dead, and dragonboat learns so only by writing to it: the batch is lost,
// and its breaker then refuses every message to that broker for 250-750
// ms. Between two followers of the same leader a connection can sit idle
// for minutes, and the first thing sent on it after that leader dies is
// a vote or a vote's answer: losing it cost a chaos kill-leader 2.36 s,
// both survivors campaigning in vain until an election timeout. Busy
// connections (a heartbeat every tick) never wait this long.
const raftConnIdleRedial = time.Second

// redialTransport is dragonboat's TCP transport whose connections are
// replaced after raftConnIdleRedial of silence (redialConn).
type redialTransport struct {
	raftio.ITransport
	now func() time.Time
}

func (t redialTransport) GetConnection(ctx context.Context, target string) (raftio.IConnection, error) {
	c, err := t.ITransport.GetConnection(ctx, target)
	if err != nil {
		return nil, err
	}
	return &redialConn{dial: t.ITransport.GetConnection, target: target, conn: c, now: t.now, last: t.now()}, nil
}

// redialConn is one Raft connection of dragonboat's send queue to a
// target; that queue's worker is its only user.
type redialConn struct {
	dial   func(ctx context.Context, target string) (raftio.IConnection, error)
	target string
	conn   raftio.IConnection
	now    func() time.Time
	last   time.Time // when the last batch was sent
}

func (c *redialConn) Close() { c.conn.Close() }

// SendMessageBatch sends over a new connection when this one has been
// idle past raftConnIdleRedial; if that dial fails, over this one, as
// before.
func (c *redialConn) SendMessageBatch(batch pb.MessageBatch) error {
	if c.now().Sub(c.last) > raftConnIdleRedial {
		ctx, cancel := context.WithTimeout(context.Background(), peerProbeTimeout)
		fresh, err := c.dial(ctx, c.target)
		cancel()
		if err == nil {
			c.conn.Close()
			c.conn = fresh
		}
	}
	err := c.conn.SendMessageBatch(batch)
	c.last = c.now()
	return err
}
