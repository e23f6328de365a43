//go:build !linux

package lokinet

import (
	"context"
	"time"
)

// watchPoll is how often a watcher looks its interface up where the kernel's
// notifications are not followed.
const watchPoll = 250 * time.Millisecond

// subscribeLinks has no notifications to follow here: the watcher polls.
func subscribeLinks(context.Context) (<-chan struct{}, time.Duration, error) {
	return nil, watchPoll, nil
}
