package call

import "time"

// whileInterrupted runs on every watch tick of an interruption that has
// lasted silent.
func (s *session) whileInterrupted(now time.Time, silent time.Duration) *ending {
	return nil
}

// recoveryRTTs is the recovery time of audio back at, in path round trips.
func (s *session) recoveryRTTs(at time.Time) float64 { return 0 }

// recovered resets recovery after audio came back.
func (s *session) recovered() {}
