package kafka

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// api is one Kafka API as its file registers it: the versions this broker
// advertises and how a request starts. The error codes of its responses
// are found the same way for every API (see firstError).
type api struct {
	key      int16
	min, max int16
	// start begins a request on the connection's reader goroutine and
	// returns the rest of its work, which runs concurrently with later
	// requests. A nil response means none is sent.
	start func(s *Server, ctx context.Context, req *request) func() kmsg.Response
	// inOrder: the rest of a request runs only once the connection's
	// previous inOrder request has been answered (see handlesInOrder).
	inOrder bool
}

// apis holds every API this broker implements, by key; each API's file
// adds itself in its init. decodeRequest admits only these keys and
// ApiVersions advertises exactly these ranges.
var apis = map[int16]api{}

// handles registers the API of request type R at versions min..max, run
// entirely concurrently with the connection's later requests.
func handles[R kmsg.Request](min, max int16, handle func(*Server, context.Context, *request, R) kmsg.Response) {
	starts(min, max, func(s *Server, ctx context.Context, req *request, body R) func() kmsg.Response {
		return func() kmsg.Response { return handle(s, ctx, req, body) }
	})
}

// handlesInOrder registers the API of request type R at versions min..max,
// run after the connection's previous request of any such API has finished.
// Kafka handles a connection's requests one at a time, and clients rely on
// it: the Java consumer's commitAsync, librdkafka and sarama send several
// OffsetCommits without waiting, and the last one sent must be the offset
// that stays. Run concurrently, an earlier commit could reach Raft after a
// later one and move the offset back.
func handlesInOrder[R kmsg.Request](min, max int16, handle func(*Server, context.Context, *request, R) kmsg.Response) {
	handles(min, max, handle)
	var zero R
	a := apis[zero.Key()]
	a.inOrder = true
	apis[zero.Key()] = a
}

// starts registers the API of request type R at versions min..max whose
// first part must run on the reader goroutine, in request order (Produce
// starts its proposals there); the func it returns runs concurrently.
func starts[R kmsg.Request](min, max int16, start func(*Server, context.Context, *request, R) func() kmsg.Response) {
	var zero R // kmsg's Key and MaxVersion do not read their receiver
	key := zero.Key()
	if _, dup := apis[key]; dup {
		panic(fmt.Sprintf("kafka: %s registered twice", apiName(key)))
	}
	if min < 0 || min > max || max > zero.MaxVersion() {
		panic(fmt.Sprintf("kafka: %s v%d..v%d is outside what kmsg encodes (v0..v%d)", apiName(key), min, max, zero.MaxVersion()))
	}
	apis[key] = api{key: key, min: min, max: max, start: func(s *Server, ctx context.Context, req *request) func() kmsg.Response {
		return start(s, ctx, req, req.body.(R))
	}}
}

// supports tells whether a request key and version are advertised.
func supports(key, version int16) bool {
	a, ok := apis[key]
	return ok && version >= a.min && version <= a.max
}
