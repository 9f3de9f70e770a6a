// The C baseline of bench/fs-agent.ts: the least a FUSE server can be (a read-only passthrough of a directory, in
// the style of libfuse's fusexmp_fh example), built against the same libfuse 2.9 that fuse-native loads, so the
// bench can show what the kernel's FUSE path costs by itself beside the agent and the native disk.
// Built by the bench: gcc -O2 -D_FILE_OFFSET_BITS=64 -I<libfuse>/include fuse-passthrough.c -L<libfuse>/lib -lfuse
// Run: fuse-passthrough ROOT MOUNTPOINT [-o options]
#define FUSE_USE_VERSION 26
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[PATH_MAX];

static int full(char *out, const char *path) {
  return snprintf(out, PATH_MAX, "%s%s", root, path) >= PATH_MAX ? -ENAMETOOLONG : 0;
}

static int pt_getattr(const char *path, struct stat *st) {
  char f[PATH_MAX];
  int e = full(f, path);
  if (e) return e;
  return lstat(f, st) ? -errno : 0;
}

static int pt_readlink(const char *path, char *buf, size_t size) {
  char f[PATH_MAX];
  int e = full(f, path);
  if (e) return e;
  ssize_t n = readlink(f, buf, size - 1);
  if (n < 0) return -errno;
  buf[n] = 0;
  return 0;
}

static int pt_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off, struct fuse_file_info *fi) {
  (void)off;
  (void)fi;
  char f[PATH_MAX];
  int e = full(f, path);
  if (e) return e;
  DIR *d = opendir(f);
  if (!d) return -errno;
  struct dirent *de;
  while ((de = readdir(d))) fill(buf, de->d_name, NULL, 0);
  closedir(d);
  return 0;
}

static int pt_open(const char *path, struct fuse_file_info *fi) {
  char f[PATH_MAX];
  int e = full(f, path);
  if (e) return e;
  if ((fi->flags & O_ACCMODE) != O_RDONLY) return -EROFS;
  int fd = open(f, O_RDONLY | O_NOFOLLOW);
  if (fd < 0) return -errno;
  fi->fh = fd;
  // What the agent's kernel_cache mount option does: the page cache survives close and reopen.
  fi->keep_cache = 1;
  return 0;
}

static int pt_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
  (void)path;
  ssize_t n = pread(fi->fh, buf, size, off);
  return n < 0 ? -errno : (int)n;
}

static int pt_release(const char *path, struct fuse_file_info *fi) {
  (void)path;
  close(fi->fh);
  return 0;
}

static struct fuse_operations ops = {
    .getattr = pt_getattr,
    .readlink = pt_readlink,
    .readdir = pt_readdir,
    .open = pt_open,
    .read = pt_read,
    .release = pt_release,
};

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s ROOT MOUNTPOINT [fuse options]\n", argv[0]);
    return 2;
  }
  if (!realpath(argv[1], root)) {
    perror(argv[1]);
    return 2;
  }
  // fuse_main sees: program MOUNTPOINT [options].
  argv[1] = argv[0];
  return fuse_main(argc - 1, argv + 1, &ops, NULL);
}
