// The part of fuse-native 2.2.6's API the agent uses (the package ships no types).
declare module "fuse-native" {
  type Cb<T = void> = T extends void ? (err: number) => void : (err: number, value?: T) => void;
  export interface FuseStat {
    mode: number;
    uid?: number;
    gid?: number;
    size?: number;
    nlink?: number;
    ino?: number;
    blksize?: number;
    blocks?: number;
    mtime?: Date;
    atime?: Date;
    ctime?: Date;
  }
  export interface FuseOps {
    init?(cb: (err: number) => void): void;
    getattr?(path: string, cb: (err: number, stat?: FuseStat) => void): void;
    readdir?(path: string, cb: (err: number, names?: string[], stats?: FuseStat[]) => void): void;
    open?(path: string, flags: number, cb: (err: number, fd?: number) => void): void;
    release?(path: string, fd: number, cb: (err: number) => void): void;
    read?(
      path: string,
      fd: number,
      buf: Buffer,
      len: number,
      pos: number,
      cb: (bytesOrErr: number) => void,
    ): void;
    readlink?(path: string, cb: (err: number, target?: string) => void): void;
    statfs?(path: string, cb: (err: number, statfs?: Record<string, number>) => void): void;
  }
  export interface FuseOptions {
    timeout?: number | false | Record<string, number | false>;
    force?: boolean;
    mkdir?: boolean;
    debug?: boolean;
  }
  class Fuse {
    constructor(mnt: string, ops: FuseOps, opts?: FuseOptions);
    readonly mnt: string;
    /** The native fuse_thread_t while mounted. */
    readonly _thread: Buffer;
    mount(cb: (err: Error | null) => void): void;
    unmount(cb: (err: Error | null) => void): void;
    static unmount(mnt: string, cb: (err: Error | null) => void): void;
    protected _fuseOptions(): string;
    static ENOENT: number;
    static EIO: number;
    static EROFS: number;
    static ENOSPC: number;
    static EACCES: number;
    static ENOTDIR: number;
    static EINVAL: number;
    static EISDIR: number;
    static EBADF: number;
  }
  export default Fuse;
  export type { Cb };
}
