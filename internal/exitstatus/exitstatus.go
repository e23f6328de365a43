// Package exitstatus reads a child process's exit status from the error
// of exec.Cmd's Run or Wait.
package exitstatus

import (
	"errors"
	"os/exec"
)

// Of returns the exit status err carries: 0 for nil, the process's code
// for an *exec.ExitError (−1 if a signal ended it), −1 for any other error
// (the process did not start or could not be waited for).
func Of(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	return -1
}
