/*
 * Unix datagram sockets (AF_UNIX, SOCK_DGRAM) for Node.js, which has none.
 *
 * A Node-API addon: one binary loads in every Node.js line (20 and later)
 * without a rebuild. Reading is driven by a libuv poll watcher on the
 * thread's own event loop, so it works in worker threads too. Every call
 * returns a negative errno on failure instead of throwing; the TypeScript
 * wrapper (src/unix-dgram-native.ts) turns it into a Node-style system error.
 *
 * JavaScript interface (all internal to @socketserver/transport-unix):
 *   open(onMessage, recvSize)        -> handle | -errno  (a new socket)
 *   adopt(fd, onMessage, recvSize)   -> handle | -errno  (an inherited socket)
 *   bind(handle, path)               -> 0 | -errno
 *   connect(handle, path)            -> 0 | -errno
 *   send(handle, bytes, path | null) -> bytes sent | -errno
 *   start(handle) / stop(handle)     -> 0 | -errno      (reading on / off)
 *   ref(handle, bool)                -> undefined       (keeps the loop alive)
 *   fd(handle)                       -> fd | -1 once closed
 *   localAddress(handle)             -> path | null | -errno
 *   close(handle)                    -> 0 | -errno
 * onMessage(errno, data, sender): errno 0 with a Buffer and the sender's
 * path ('' for an unnamed sender; abstract names start with '\0'), or a
 * read error's errno with nulls (reading then stops).
 */
#define NAPI_VERSION 8
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

/* Datagrams read per readable event before yielding to the rest of the loop. */
#define READS_PER_EVENT 64

/*
 * One socket. It is freed when both its poll handle has closed and its
 * JavaScript handle (an external) has been collected, whichever is last.
 */
typedef struct Sock {
  int fd;
  int polling;
  int closing;
  int referenced;
  int poll_closed;
  int collected;
  uv_poll_t poll;
  napi_env env;
  /* Weak, and strong only while polling: a socket that reads is never collected. The
     JavaScript side keeps on_message alive otherwise (it is its own field). */
  napi_ref on_message;
  napi_ref resource; /* the handle itself, the async resource of callbacks */
  napi_async_context context;
  napi_async_cleanup_hook_handle cleanup;
  size_t recv_size;
  char *recv_buf;
} Sock;

#define CHECK(call)                                                                        \
  do {                                                                                     \
    if ((call) != napi_ok) return NULL;                                                    \
  } while (0)

static napi_value int_value(napi_env env, int value) {
  napi_value result;
  if (napi_create_int32(env, value, &result) != napi_ok) return NULL;
  return result;
}

/* Fills `addr` for a path ('\0...' is an abstract name); returns 0 or -errno. */
static int make_address(napi_env env, napi_value path, struct sockaddr_un *addr, socklen_t *len) {
  char text[sizeof(addr->sun_path) + 2];
  size_t size = 0;
  if (napi_get_value_string_utf8(env, path, text, sizeof(text), &size) != napi_ok) return -EINVAL;
  if (size == 0) return -EINVAL;
  int abstract = text[0] == '\0';
  /* A filesystem path needs its terminating NUL in sun_path; an abstract name has none. */
  if (size > sizeof(addr->sun_path) - (abstract ? 0 : 1)) return -ENAMETOOLONG;
  if (!abstract && memchr(text, '\0', size) != NULL) return -EINVAL;
  memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  memcpy(addr->sun_path, text, size);
  *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + size + (abstract ? 0 : 1));
  return 0;
}

/* The path of an address the kernel returned: '' unnamed, '\0...' abstract. */
static napi_value address_value(napi_env env, const struct sockaddr_un *addr, socklen_t len) {
  napi_value result;
  size_t offset = offsetof(struct sockaddr_un, sun_path);
  size_t size = len > offset ? len - offset : 0;
  if (size > 0 && addr->sun_path[0] != '\0') size = strnlen(addr->sun_path, size);
  if (napi_create_string_utf8(env, addr->sun_path, size, &result) != napi_ok) return NULL;
  return result;
}

static Sock *get_sock(napi_env env, napi_value value) {
  void *data = NULL;
  if (napi_get_value_external(env, value, &data) != napi_ok) return NULL;
  return (Sock *)data;
}

static void stop_polling(Sock *sock) {
  if (!sock->polling) return;
  sock->polling = 0;
  uv_poll_stop(&sock->poll);
  napi_reference_unref(sock->env, sock->on_message, NULL);
  napi_reference_unref(sock->env, sock->resource, NULL);
  /* The async context holds its resource strongly on some Node lines: only while polling. */
  napi_async_destroy(sock->env, sock->context);
  sock->context = NULL;
}

static void free_sock(Sock *sock) {
  free(sock->recv_buf);
  free(sock);
}

static void on_poll_closed(uv_handle_t *handle) {
  Sock *sock = (Sock *)handle->data;
  sock->poll_closed = 1;
  napi_async_cleanup_hook_handle cleanup = sock->cleanup;
  sock->cleanup = NULL;
  if (sock->collected) free_sock(sock);
  if (cleanup != NULL) napi_remove_async_cleanup_hook(cleanup);
}

/* Stops reading, closes the fd and the poll handle; returns 0 or close()'s -errno. */
static int close_sock(Sock *sock) {
  if (sock->closing) return 0;
  stop_polling(sock);
  sock->closing = 1;
  int result = 0;
  if (sock->fd >= 0 && close(sock->fd) != 0) result = -errno;
  sock->fd = -1;
  if (sock->on_message != NULL) napi_delete_reference(sock->env, sock->on_message);
  if (sock->resource != NULL) napi_delete_reference(sock->env, sock->resource);
  sock->on_message = NULL;
  sock->resource = NULL;
  uv_close((uv_handle_t *)&sock->poll, on_poll_closed);
  return result;
}

/*
 * The environment (a worker thread, or the process) is going away with the
 * socket open: close it without calling into JavaScript. Node waits until
 * on_poll_closed removes the hook.
 */
static void on_env_cleanup(napi_async_cleanup_hook_handle handle, void *data) {
  (void)handle;
  Sock *sock = (Sock *)data;
  if (sock->closing) return; /* already closing: on_poll_closed will remove the hook */
  sock->closing = 1;
  sock->polling = 0;
  uv_poll_stop(&sock->poll);
  if (sock->fd >= 0) close(sock->fd);
  sock->fd = -1;
  uv_close((uv_handle_t *)&sock->poll, on_poll_closed);
}

/* The JavaScript handle was collected: close the socket if it is open, free it once closed. */
static void on_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  Sock *sock = (Sock *)data;
  sock->collected = 1;
  if (!sock->closing) close_sock(sock);
  else if (sock->poll_closed) free_sock(sock);
}

static void call_back(Sock *sock, int error, napi_value data, napi_value sender) {
  napi_env env = sock->env;
  napi_value callback, resource, args[3], result;
  if (napi_get_reference_value(env, sock->on_message, &callback) != napi_ok || callback == NULL) return;
  if (napi_get_reference_value(env, sock->resource, &resource) != napi_ok) return;
  args[0] = int_value(env, error);
  if (data == NULL) napi_get_null(env, &data);
  if (sender == NULL) napi_get_null(env, &sender);
  args[1] = data;
  args[2] = sender;
  napi_status status = napi_make_callback(env, sock->context, resource, callback, 3, args, &result);
  if (status == napi_pending_exception) {
    napi_value exception;
    napi_get_and_clear_last_exception(env, &exception);
    napi_fatal_exception(env, exception);
  }
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  (void)events;
  Sock *sock = (Sock *)handle->data;
  napi_env env = sock->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  if (status < 0) {
    call_back(sock, status, NULL, NULL);
    stop_polling(sock);
    napi_close_handle_scope(env, scope);
    return;
  }
  for (int i = 0; i < READS_PER_EVENT && sock->polling; i++) {
    struct sockaddr_un from;
    socklen_t from_len = sizeof(from);
    ssize_t n = recvfrom(sock->fd, sock->recv_buf, sock->recv_size, MSG_DONTWAIT,
                         (struct sockaddr *)&from, &from_len);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      call_back(sock, -errno, NULL, NULL);
      stop_polling(sock);
      break;
    }
    napi_handle_scope inner;
    if (napi_open_handle_scope(env, &inner) != napi_ok) break;
    napi_value data, sender;
    void *copy;
    if (napi_create_buffer_copy(env, (size_t)n, sock->recv_buf, &copy, &data) == napi_ok &&
        (sender = address_value(env, &from, from_len)) != NULL) {
      call_back(sock, 0, data, sender);
    }
    napi_close_handle_scope(env, inner);
  }
  napi_close_handle_scope(env, scope);
}

static int set_flags(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return -errno;
  flags = fcntl(fd, F_GETFD);
  if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) return -errno;
  return 0;
}

/* Wraps fd (already non-blocking) with its watcher; returns the handle or -errno. */
static napi_value wrap(napi_env env, int fd, napi_value on_message, napi_value recv_size_value) {
  uint32_t recv_size = 65536;
  napi_get_value_uint32(env, recv_size_value, &recv_size);
  if (recv_size == 0) recv_size = 1;
  Sock *sock = calloc(1, sizeof(Sock));
  char *buf = malloc(recv_size);
  uv_loop_t *loop = NULL;
  if (sock == NULL || buf == NULL || napi_get_uv_event_loop(env, &loop) != napi_ok) {
    free(sock);
    free(buf);
    close(fd);
    return int_value(env, -ENOMEM);
  }
  sock->fd = fd;
  sock->env = env;
  sock->recv_buf = buf;
  sock->recv_size = recv_size;
  sock->referenced = 1;
  int error = uv_poll_init(loop, &sock->poll, fd);
  if (error != 0) {
    close(fd);
    free_sock(sock);
    return int_value(env, error);
  }
  sock->poll.data = sock;
  napi_value handle;
  if (napi_create_external(env, sock, on_finalize, NULL, &handle) != napi_ok) {
    close(fd);
    sock->collected = 1;
    uv_close((uv_handle_t *)&sock->poll, on_poll_closed);
    return NULL;
  }
  CHECK(napi_create_reference(env, on_message, 0, &sock->on_message));
  CHECK(napi_create_reference(env, handle, 0, &sock->resource));
  CHECK(napi_add_async_cleanup_hook(env, on_env_cleanup, sock, &sock->cleanup));
  return handle;
}

static napi_value get_args(napi_env env, napi_callback_info info, size_t count, napi_value *args) {
  size_t given = count;
  CHECK(napi_get_cb_info(env, info, &given, args, NULL, NULL));
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  for (size_t i = given; i < count; i++) args[i] = undefined;
  return undefined;
}

static napi_value js_open(napi_env env, napi_callback_info info) {
  napi_value args[2];
  if (get_args(env, info, 2, args) == NULL) return NULL;
  int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
  if (fd < 0) return int_value(env, -errno);
  int error = set_flags(fd);
  if (error != 0) {
    close(fd);
    return int_value(env, error);
  }
  return wrap(env, fd, args[0], args[1]);
}

static napi_value js_adopt(napi_env env, napi_callback_info info) {
  napi_value args[3];
  if (get_args(env, info, 3, args) == NULL) return NULL;
  int32_t fd = -1;
  if (napi_get_value_int32(env, args[0], &fd) != napi_ok || fd < 0) return int_value(env, -EBADF);
  int type = 0, family = 0;
  socklen_t len = sizeof(type);
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) return int_value(env, -errno);
  struct sockaddr_un addr;
  socklen_t addr_len = sizeof(addr);
  if (getsockname(fd, (struct sockaddr *)&addr, &addr_len) != 0) return int_value(env, -errno);
  family = addr.sun_family;
  if (type != SOCK_DGRAM || family != AF_UNIX) return int_value(env, -ENOTSUP);
  int error = set_flags(fd);
  if (error != 0) return int_value(env, error);
  return wrap(env, fd, args[1], args[2]);
}

static napi_value js_bind_or_connect(napi_env env, napi_callback_info info, int bind_it) {
  napi_value args[2];
  if (get_args(env, info, 2, args) == NULL) return NULL;
  Sock *sock = get_sock(env, args[0]);
  if (sock == NULL || sock->fd < 0) return int_value(env, -EBADF);
  struct sockaddr_un addr;
  socklen_t len;
  int error = make_address(env, args[1], &addr, &len);
  if (error != 0) return int_value(env, error);
  int result = bind_it ? bind(sock->fd, (struct sockaddr *)&addr, len)
                       : connect(sock->fd, (struct sockaddr *)&addr, len);
  return int_value(env, result == 0 ? 0 : -errno);
}

static napi_value js_bind(napi_env env, napi_callback_info info) {
  return js_bind_or_connect(env, info, 1);
}

static napi_value js_connect(napi_env env, napi_callback_info info) {
  return js_bind_or_connect(env, info, 0);
}

static napi_value js_send(napi_env env, napi_callback_info info) {
  napi_value args[3];
  if (get_args(env, info, 3, args) == NULL) return NULL;
  Sock *sock = get_sock(env, args[0]);
  if (sock == NULL || sock->fd < 0) return int_value(env, -EBADF);
  void *data = NULL;
  size_t length = 0;
  napi_typedarray_type type;
  napi_value array_buffer;
  size_t offset;
  if (napi_get_typedarray_info(env, args[1], &type, &length, &data, &array_buffer, &offset) != napi_ok ||
      type != napi_uint8_array) {
    return int_value(env, -EINVAL);
  }
  napi_valuetype kind;
  napi_typeof(env, args[2], &kind);
  ssize_t sent;
  do {
    if (kind == napi_string) {
      struct sockaddr_un addr;
      socklen_t len;
      int error = make_address(env, args[2], &addr, &len);
      if (error != 0) return int_value(env, error);
      sent = sendto(sock->fd, data, length, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&addr, len);
    } else {
      sent = send(sock->fd, data, length, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
  } while (sent < 0 && errno == EINTR);
  return int_value(env, sent < 0 ? -errno : (int)sent);
}

static napi_value js_start(napi_env env, napi_callback_info info) {
  napi_value args[1];
  if (get_args(env, info, 1, args) == NULL) return NULL;
  Sock *sock = get_sock(env, args[0]);
  if (sock == NULL || sock->closing) return int_value(env, -EBADF);
  if (sock->polling) return int_value(env, 0);
  napi_value name;
  if (napi_create_string_utf8(env, "UnixDatagramSocket", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, args[0], name, &sock->context) != napi_ok) {
    return int_value(env, -ENOMEM);
  }
  int error = uv_poll_start(&sock->poll, UV_READABLE, on_readable);
  if (error != 0) {
    napi_async_destroy(env, sock->context);
    sock->context = NULL;
    return int_value(env, error);
  }
  sock->polling = 1;
  napi_reference_ref(env, sock->on_message, NULL);
  napi_reference_ref(env, sock->resource, NULL);
  if (!sock->referenced) uv_unref((uv_handle_t *)&sock->poll);
  return int_value(env, 0);
}

static napi_value js_stop(napi_env env, napi_callback_info info) {
  napi_value args[1];
  if (get_args(env, info, 1, args) == NULL) return NULL;
  Sock *sock = get_sock(env, args[0]);
  if (sock == NULL || sock->closing) return int_value(env, -EBADF);
  stop_polling(sock);
  return int_value(env, 0);
}

static napi_value js_ref(napi_env env, napi_callback_info info) {
  napi_value args[2];
  napi_value undefined = get_args(env, info, 2, args);
  if (undefined == NULL) return NULL;
  Sock *sock = get_sock(env, args[0]);
  bool referenced = true;
  napi_get_value_bool(env, args[1], &referenced);
  if (sock == NULL || sock->closing) return undefined;
  sock->referenced = referenced;
  if (referenced) uv_ref((uv_handle_t *)&sock->poll);
  else uv_unref((uv_handle_t *)&sock->poll);
  return undefined;
}

static napi_value js_fd(napi_env env, napi_callback_info info) {
  napi_value args[1];
  if (get_args(env, info, 1, args) == NULL) return NULL;
  Sock *sock = get_sock(env, args[0]);
  return int_value(env, sock == NULL ? -1 : sock->fd);
}

static napi_value js_local_address(napi_env env, napi_callback_info info) {
  napi_value args[1];
  if (get_args(env, info, 1, args) == NULL) return NULL;
  Sock *sock = get_sock(env, args[0]);
  if (sock == NULL || sock->fd < 0) return int_value(env, -EBADF);
  struct sockaddr_un addr;
  socklen_t len = sizeof(addr);
  if (getsockname(sock->fd, (struct sockaddr *)&addr, &len) != 0) return int_value(env, -errno);
  return address_value(env, &addr, len);
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value args[1];
  if (get_args(env, info, 1, args) == NULL) return NULL;
  Sock *sock = get_sock(env, args[0]);
  if (sock == NULL) return int_value(env, -EBADF);
  if (sock->closing) return int_value(env, 0);
  return int_value(env, close_sock(sock));
}

NAPI_MODULE_INIT() {
  napi_property_descriptor properties[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"adopt", NULL, js_adopt, NULL, NULL, NULL, napi_enumerable, NULL},
      {"bind", NULL, js_bind, NULL, NULL, NULL, napi_enumerable, NULL},
      {"connect", NULL, js_connect, NULL, NULL, NULL, napi_enumerable, NULL},
      {"send", NULL, js_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"start", NULL, js_start, NULL, NULL, NULL, napi_enumerable, NULL},
      {"stop", NULL, js_stop, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ref", NULL, js_ref, NULL, NULL, NULL, napi_enumerable, NULL},
      {"fd", NULL, js_fd, NULL, NULL, NULL, napi_enumerable, NULL},
      {"localAddress", NULL, js_local_address, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof(properties) / sizeof(properties[0]), properties) != napi_ok)
    return NULL;
  return exports;
}
