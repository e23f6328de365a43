package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/lokicall/lokicall/lokinet"
)

// AddContact sets contact name to addr in the file at path, creating the
// file (and its directory) if needed, and returns whether an existing entry
// was replaced. The file is edited as text, so comments, order and keys
// lokicall does not know survive; it is replaced atomically (a temporary file
// in the same directory, then rename).
func AddContact(path, name string, addr lokinet.Address) (replaced bool, err error) {
	if err := CheckName(name); err != nil {
		return false, err
	}
	err = edit(path, func(orig *File, lines []string) ([]string, error) {
		old, ok := orig.Contacts[name]
		replaced = ok
		if ok && old == addr.String() {
			// Nothing to change; a line found below could be one that only
			// looks like the entry, inside a multi-line string.
			return lines, nil
		}
		start, end, found := contactsSection(lines)
		entry := quoteKey(name) + " = " + strconv.Quote(addr.String())
		if !found {
			if n := len(lines); n > 0 && strings.TrimSpace(lines[n-1]) != "" {
				lines = append(lines, "")
			}
			return append(lines, "[contacts]", entry), nil
		}
		if i := findKey(lines, start, end, name); i >= 0 {
			lines[i] = entry
			return lines, nil
		}
		// After the section's last non-blank line.
		at := end
		for at > start+1 && strings.TrimSpace(lines[at-1]) == "" {
			at--
		}
		out := append([]string{}, lines[:at]...)
		out = append(out, entry)
		return append(out, lines[at:]...), nil
	}, func(f *File) error {
		if got := f.Contacts[name]; got != addr.String() {
			return ErrLayout
		}
		return nil
	})
	return replaced, err
}

// RemoveContact deletes contact name from the file at path, the same way
// AddContact edits it. A name that is not there gives ErrNoContact.
func RemoveContact(path, name string) error {
	return edit(path, func(orig *File, lines []string) ([]string, error) {
		if _, ok := orig.Contacts[name]; !ok {
			return nil, fmt.Errorf("%w: %q", ErrNoContact, name)
		}
		start, end, found := contactsSection(lines)
		i := -1
		if found {
			i = findKey(lines, start, end, name)
		}
		if i < 0 {
			// Not on a line of its own in the table: the check refuses.
			return lines, nil
		}
		return append(lines[:i:i], lines[i+1:]...), nil
	}, func(f *File) error {
		if _, ok := f.Contacts[name]; ok {
			return ErrLayout
		}
		return nil
	})
}

// edit reads the file, changes its lines (knowing what the file held),
// checks that the result still parses and says what check wants, and writes
// it back atomically.
func edit(path string, change func(*File, []string) ([]string, error), check func(*File) error) error {
	data, err := os.ReadFile(path)
	mode := fs.FileMode(0o600)
	orig := &File{}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		data = nil
	case err != nil:
		return fmt.Errorf("config: %w", err)
	default:
		if orig, _, err = parse(data); err != nil {
			return fmt.Errorf("config %s: %w", path, err)
		}
		if st, err := os.Stat(path); err == nil {
			mode = st.Mode().Perm()
		}
	}
	text := strings.TrimRight(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	var lines []string
	if text != "" {
		lines = strings.Split(text, "\n")
	}
	lines, err = change(orig, lines)
	if err != nil {
		return err
	}
	out := []byte(strings.Join(lines, "\n") + "\n")
	f, _, err := parse(out)
	if err != nil {
		return fmt.Errorf("%w (%s): %w", ErrLayout, path, err)
	}
	if err := check(f); err != nil {
		return fmt.Errorf("%w (%s); edit the [contacts] table by hand", err, path)
	}
	return writeAtomic(path, out, mode)
}

// writeAtomic replaces path with data: a reader sees the old file or the new
// one, never a part.
func writeAtomic(path string, data []byte, mode fs.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".config-*.toml")
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	name := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			_ = tmp.Close()
			_ = os.Remove(name)
		}
	}()
	if err := tmp.Chmod(mode); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("config: write %s: %w", name, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("config: sync %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := os.Rename(name, path); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	ok = true
	return nil
}

var tableHeader = regexp.MustCompile(`^\s*\[`)

// contactsSection finds the [contacts] table, however its name is cased:
// the header's line and the index of the line after its last line.
func contactsSection(lines []string) (start, end int, found bool) {
	start = -1
	for i, l := range lines {
		if !tableHeader.MatchString(l) {
			continue
		}
		if start >= 0 {
			return start, i, true
		}
		if strings.EqualFold(headerName(l), "contacts") { // as parse matches it
			start = i
		}
	}
	if start >= 0 {
		return start, len(lines), true
	}
	return 0, 0, false
}

// headerName returns the table name of a header line, "" if it is not a
// plain [table] header.
func headerName(line string) string {
	var probe map[string]any
	if _, err := toml.Decode(line, &probe); err != nil || len(probe) != 1 {
		return ""
	}
	for k := range probe {
		return k
	}
	return ""
}

// findKey returns the line within (start, end) that sets key name, or -1.
func findKey(lines []string, start, end int, name string) int {
	for i := start + 1; i < end; i++ {
		var probe map[string]any
		if _, err := toml.Decode(lines[i], &probe); err != nil || len(probe) != 1 {
			continue
		}
		if _, ok := probe[name]; ok {
			return i
		}
	}
	return -1
}

var bareKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// quoteKey writes name as a TOML key.
func quoteKey(name string) string {
	if bareKey.MatchString(name) {
		return name
	}
	return strconv.Quote(name)
}
