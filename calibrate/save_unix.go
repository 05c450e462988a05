//go:build unix

package calibrate

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// maxLinkHops bounds the trusted symbolic links followed while opening the
// directory, as the kernel's own limit does.
const maxLinkHops = 40

// saveAt writes data to name in dir as Save describes and backs up the
// previous file.
func saveAt(dir, name string, data []byte, mode fs.FileMode, uid, gid int, log *slog.Logger) (SaveResult, error) {
	dfd, err := openDir(dir, uid)
	if err != nil {
		return SaveResult{}, err
	}
	defer unix.Close(dfd)
	res := SaveResult{Path: filepath.Join(dir, name)}
	old, skip, err := readPrevious(dfd, name)
	if err != nil {
		return SaveResult{}, fmt.Errorf("previous %s: %w", res.Path, err)
	}
	switch {
	case old != nil:
		if err := writeAt(dfd, name+".bak", old, mode, uid, gid, log); err != nil {
			return SaveResult{}, fmt.Errorf("backup %s.bak: %w", res.Path, err)
		}
		res.Backup = res.Path + ".bak"
	case skip != "":
		res.NoBackup = skip
		log.Warn("previous file not backed up", "path", res.Path, "reason", skip)
	}
	if err := writeAt(dfd, name, data, mode, uid, gid, log); err != nil {
		return SaveResult{}, fmt.Errorf("%s: %w", res.Path, err)
	}
	return res, nil
}

// openDir opens the absolute directory dir component by component and
// returns its descriptor; see Save for what it accepts. owner is the uid
// the file will get, or -1.
func openDir(dir string, owner int) (fd int, err error) {
	root, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open /: %w", err)
	}
	// stack holds the descriptors from "/" to the current directory, for
	// ".." in a followed link's target.
	stack := []int{root}
	names := []string{"/"}
	defer func() {
		keep := -1
		if err == nil {
			keep = stack[len(stack)-1]
		}
		for _, d := range stack {
			if d != keep {
				unix.Close(d)
			}
		}
	}()
	if err := checkDir(root, "/", owner); err != nil {
		return -1, err
	}
	comps := splitPath(dir)
	for hops := 0; len(comps) > 0; {
		c := comps[0]
		comps = comps[1:]
		cur, curName := stack[len(stack)-1], names[len(names)-1]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(stack) > 1 {
				unix.Close(cur)
				stack, names = stack[:len(stack)-1], names[:len(names)-1]
			}
			continue
		}
		full := filepath.Join(curName, c)
		nfd, err := unix.Openat(cur, c, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) && len(comps) == 0 {
			// Only the last directory is created, inside a checked parent.
			if merr := unix.Mkdirat(cur, c, 0o755); merr != nil && !errors.Is(merr, unix.EEXIST) {
				return -1, fmt.Errorf("create directory %s: %w", full, merr)
			}
			nfd, err = unix.Openat(cur, c, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		}
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.EMLINK) {
			target, lerr := trustedLink(cur, c, full, curName)
			if lerr != nil {
				return -1, lerr
			}
			if hops++; hops > maxLinkHops {
				return -1, fmt.Errorf("%w: %s: too many symbolic links", ErrUnsafePath, dir)
			}
			if strings.HasPrefix(target, "/") {
				for _, d := range stack[1:] {
					unix.Close(d)
				}
				stack, names = stack[:1], names[:1]
			}
			comps = append(splitPath(target), comps...)
			continue
		}
		if err != nil {
			return -1, fmt.Errorf("open directory %s: %w", full, err)
		}
		stack, names = append(stack, nfd), append(names, full)
		if err := checkDir(nfd, full, owner); err != nil {
			return -1, err
		}
	}
	return stack[len(stack)-1], nil
}

// splitPath returns the non-empty components of p.
func splitPath(p string) []string {
	return strings.FieldsFunc(p, func(r rune) bool { return r == '/' })
}

// checkDir accepts a directory owned by root, the caller or owner that
// only its owner can write to, or that is sticky.
func checkDir(fd int, name string, owner int) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat %s: %w", name, err)
	}
	if uint32(st.Mode)&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("%w: %s is not a directory", ErrUnsafePath, name)
	}
	if u := int(st.Uid); u != 0 && u != os.Geteuid() && u != owner {
		return fmt.Errorf("%w: directory %s is owned by uid %d, not by root, by you or by the file's owner", ErrUnsafePath, name, u)
	}
	if m := uint32(st.Mode); m&0o022 != 0 && m&unix.S_ISVTX == 0 {
		return fmt.Errorf("%w: directory %s is writable by group or others (mode %#o) and not sticky", ErrUnsafePath, name, m&0o7777)
	}
	return nil
}

// trustedLink returns the target of the symbolic link name in the
// directory dfd when it may be followed: the link and the directory are
// owned by root or the caller, so no one else can have planted or swapped
// it.
func trustedLink(dfd int, name, full, dirName string) (string, error) {
	var st, dst unix.Stat_t
	if err := unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return "", fmt.Errorf("stat %s: %w", full, err)
	}
	if uint32(st.Mode)&unix.S_IFMT != unix.S_IFLNK {
		return "", fmt.Errorf("%s: not a directory", full)
	}
	if err := unix.Fstat(dfd, &dst); err != nil {
		return "", fmt.Errorf("stat %s: %w", dirName, err)
	}
	me := uint32(os.Geteuid())
	if (st.Uid != 0 && st.Uid != me) || (dst.Uid != 0 && dst.Uid != me) {
		return "", fmt.Errorf("%w: %s is a symbolic link owned by uid %d in a directory owned by uid %d: not followed (only links of root or yours in directories of root or yours are)", ErrUnsafePath, full, st.Uid, dst.Uid)
	}
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(dfd, name, buf)
	if err != nil {
		return "", fmt.Errorf("read link %s: %w", full, err)
	}
	if n >= len(buf) {
		return "", fmt.Errorf("read link %s: target too long", full)
	}
	return string(buf[:n]), nil
}

// readPrevious returns the content of the regular file name in dfd, or nil
// and the reason it was not read (empty when there is no such entry).
func readPrevious(dfd int, name string) ([]byte, string, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, "", nil
		}
		return nil, "", fmt.Errorf("stat: %w", err)
	}
	if why := refuseBackup(&st); why != "" {
		return nil, why, nil
	}
	fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EMLINK) {
		return nil, "it is a symbolic link (replaced, not followed)", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("open: %w", err)
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	var fst unix.Stat_t
	if err := unix.Fstat(fd, &fst); err != nil {
		return nil, "", fmt.Errorf("stat: %w", err)
	}
	if why := refuseBackup(&fst); why != "" {
		return nil, why, nil
	}
	if fst.Dev != st.Dev || fst.Ino != st.Ino {
		return nil, "it was replaced while being read", nil
	}
	b, err := io.ReadAll(io.LimitReader(f, maxBackup+1))
	if err != nil {
		return nil, "", fmt.Errorf("read: %w", err)
	}
	if len(b) > maxBackup {
		return nil, fmt.Sprintf("it is larger than %d KiB", maxBackup>>10), nil
	}
	return b, "", nil
}

// refuseBackup says why the entry st is not copied, or "".
func refuseBackup(st *unix.Stat_t) string {
	switch uint32(st.Mode) & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFLNK:
		return "it is a symbolic link (replaced, not followed)"
	default:
		return "it is not a regular file"
	}
	if n := uint64(st.Nlink); n != 1 {
		return fmt.Sprintf("it has %d hard links (this name is replaced, the other links are left alone)", n)
	}
	if st.Size > maxBackup {
		return fmt.Sprintf("it is larger than %d KiB", maxBackup>>10)
	}
	return ""
}

// writeAt replaces name in dfd with data: a fresh temporary file, fsync,
// fchown and fchmod on the descriptor, renameat, fsync of the directory.
func writeAt(dfd int, name string, data []byte, mode fs.FileMode, uid, gid int, log *slog.Logger) (err error) {
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return fmt.Errorf("temporary name: %w", err)
	}
	tmp := "." + name + ".tmp-" + hex.EncodeToString(rnd[:])
	fd, err := unix.Openat(dfd, tmp, unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	f := os.NewFile(uintptr(fd), tmp)
	renamed := false
	defer func() {
		if err != nil {
			f.Close()
			if !renamed {
				_ = unix.Unlinkat(dfd, tmp, 0)
			}
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("fsync: %w", err)
	}
	if uid >= 0 {
		if cerr := f.Chown(uid, gid); cerr != nil {
			log.Warn("chown failed, leaving the file's owner alone", "file", name, "uid", uid, "gid", gid, "err", cerr)
		}
	}
	if err = f.Chmod(mode); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	if err = unix.Renameat(dfd, tmp, dfd, name); err != nil {
		return fmt.Errorf("rename: %w", err)
	}
	renamed = true
	if err = unix.Fsync(dfd); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOTSUP) {
		return fmt.Errorf("fsync directory: %w", err)
	}
	return nil
}
