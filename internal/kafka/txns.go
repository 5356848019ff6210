package kafka

import "github.com/twmb/franz-go/pkg/kerr"

// SetTransactions gives the server its transaction coordinator; call it
// before Listen. Without one, the transaction APIs answer
// COORDINATOR_NOT_AVAILABLE.
func (s *Server) SetTransactions(t Txns) { s.txns = waitingTxns{t} }

// fencedBefore answers PRODUCER_FENCED as INVALID_PRODUCER_EPOCH to the
// versions of an API older than since, which predate it (KIP-588).
func fencedBefore(code, version, since int16) int16 {
	if code == kerr.ProducerFenced.Code && version < since {
		return kerr.InvalidProducerEpoch.Code
	}
	return code
}
