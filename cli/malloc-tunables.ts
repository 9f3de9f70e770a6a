/**
 * The GLIBC_TUNABLES that cli/bin/flox's sh line gives flox's own process (written out there too, where a test
 * holds the two equal): keep up to 64 MiB of freed memory per arena instead of handing it back to the kernel after
 * each collection, and serve allocations under 4 MiB from it. Benches that run flox code in a process of their own
 * use it to run as the bin does.
 */
export const MALLOC_TUNABLES = "glibc.malloc.trim_threshold=67108864:glibc.malloc.mmap_threshold=4194304";
