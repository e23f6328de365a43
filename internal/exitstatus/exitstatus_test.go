package exitstatus

import (
	"errors"
	"fmt"
	"os/exec"
	"testing"
)

func TestOf(t *testing.T) {
	if got := Of(nil); got != 0 {
		t.Errorf("Of(nil) = %d, want 0", got)
	}
	if got := Of(errors.New("no such file")); got != -1 {
		t.Errorf("Of(other) = %d, want -1", got)
	}
	err := exec.Command("sh", "-c", "exit 7").Run()
	if got := Of(fmt.Errorf("wrapped: %w", err)); got != 7 {
		t.Errorf("Of(exit 7) = %d, want 7 (%v)", got, err)
	}
}
