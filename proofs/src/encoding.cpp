#include "luo/proofs/encoding.hpp"

#include <algorithm>
#include <functional>
#include <numeric>

namespace luo::proofs {
namespace {

// Field widths. Each holds every value its enum or counter can take within kMax* bounds.
constexpr int kBootBits = 2;
constexpr int kFaultBits = 2;
constexpr int kHandoffBits = 3;
constexpr int kSessBits = 3;
constexpr int kKFileBits = 3;
constexpr int kTokenBits = 4;
constexpr int kHijackBits = 3;
constexpr int kEntryBits = 4;
constexpr int kReasonBits = 4;
constexpr int kFdBits = kEntryBits + kReasonBits + kKFileBits + 2 * kTokenBits + 1;
constexpr int kSessionBits = kSessBits + kEntryBits + kReasonBits + 2;
constexpr int kOwnerBits = 3;
constexpr int kCounterBits = 2;
// With any_kexecs: counters up to World::counter_cap() (at most 4) and State::kc_same.
constexpr int kCappedCounterBits = 3;
constexpr int kMaxCounterCap = 4;
static_assert(kMaxKexecs < (1 << kBootBits) && kMaxFaults < (1 << kFaultBits));
static_assert(kMaxKexecCount < (1 << kCounterBits));
static_assert(kMaxCounterCap < (1 << kCappedCounterBits));
static_assert(kMaxFds + 1 < (1 << kTokenBits));
static_assert(static_cast<int>(Reason::earlier_boot) < (1 << kReasonBits));
static_assert(static_cast<int>(Entry::lost) < (1 << kEntryBits));

class BitWriter {
 public:
  explicit BitWriter(std::uint64_t* out, int words) : out_(out) {
    std::fill(out_, out_ + words, 0);
  }
  void put(unsigned value, int bits) {
    const std::uint64_t v = value & ((std::uint64_t{1} << bits) - 1);
    const int word = pos_ / 64;
    const int shift = pos_ % 64;
    out_[word] |= v << shift;
    if (shift + bits > 64)
      out_[word + 1] |= v >> (64 - shift);
    pos_ += bits;
  }

 private:
  std::uint64_t* out_;
  int pos_ = 0;
};

class BitReader {
 public:
  explicit BitReader(const std::uint64_t* in) : in_(in) {}
  unsigned get(int bits) {
    const int word = pos_ / 64;
    const int shift = pos_ % 64;
    std::uint64_t v = in_[word] >> shift;
    if (shift + bits > 64)
      v |= in_[word + 1] << (64 - shift);
    pos_ += bits;
    return static_cast<unsigned>(v & ((std::uint64_t{1} << bits) - 1));
  }

 private:
  const std::uint64_t* in_;
  int pos_ = 0;
};

template <class E>
unsigned u(E e) {
  return static_cast<unsigned>(e);
}

// A total order key for one fd slot and one session slot (their fields, packed).
std::uint32_t key(const FdSlot& x) {
  return (u(x.e) << 16) | (u(x.why) << 12) | (u(x.kf) << 9) | (u(x.kt) << 5) | (u(x.mt) << 1) |
         (x.foreign ? 1u : 0u);
}
std::uint32_t key(const SessionSlot& x) {
  return (u(x.ss) << 10) | (u(x.e) << 6) | (u(x.why) << 2) | (x.svc ? 2u : 0u) | (x.mgr ? 1u : 0u);
}
std::uint32_t key(const OwnerSlot& x) {
  return (x.loaded ? 4u : 0u) | (x.zero ? 2u : 0u) | (x.alive ? 1u : 0u);
}

int sessions_of(const Bounds& b, int o) {
  int n = 0;
  for (int j = o; j < b.sessions; j += b.owners)
    ++n;
  return n;
}

// Owners whose whole blocks are interchangeable: consecutive owners with the same number of
// sessions (owner j%N holds session j, so the count never grows with the index), owner 0 alone
// when it can hijack. Calls f(first, end) for each class of two or more.
template <class F>
void for_each_owner_class(const Bounds& b, F&& f) {
  for (int o = 0; o < b.owners; ++o) {
    if (b.hijack && o == 0)
      continue;
    int end = o + 1;
    while (end < b.owners && sessions_of(b, end) == sessions_of(b, o))
      ++end;
    if (end - o >= 2)
      f(o, end);
    o = end - 1;
  }
}

// Orders two owners' blocks (slot, fds, sessions) by their keys: <0, 0 or >0.
int compare_blocks(const Bounds& b, const State& s, int x, int y) {
  const auto cmp = [](std::uint32_t a, std::uint32_t c) { return a < c ? -1 : a > c ? 1 : 0; };
  if (int c = cmp(key(s.owner[x]), key(s.owner[y])))
    return c;
  for (int i = 0; i < b.fds; ++i) {
    if (int c = cmp(key(s.fd[x * b.fds + i]), key(s.fd[y * b.fds + i])))
      return c;
  }
  for (int j = 0; x + j * b.owners < b.sessions; ++j) {
    if (int c = cmp(key(s.session[x + j * b.owners]), key(s.session[y + j * b.owners])))
      return c;
  }
  return 0;
}

}  // namespace

Codec::Codec(const Bounds& bounds) : b_(bounds) {
  bits_ = kBootBits + kFaultBits + 2 * kHandoffBits + kSessBits + 1 + kKFileBits + kTokenBits +
          2 * counter_bits() + (b_.any_kexecs ? 1 : 0) + (b_.hijack ? kHijackBits : 0) +
          b_.owners * kOwnerBits + b_.owners * b_.fds * kFdBits + b_.sessions * kSessionBits;
}

// The bounded world keeps its layout bit for bit; only --any-kexecs widens the counters.
int Codec::counter_bits() const {
  return b_.any_kexecs ? kCappedCounterBits : kCounterBits;
}

void Codec::encode(const State& s, std::uint64_t* out) const {
  BitWriter w(out, words());
  w.put(s.boot, kBootBits);
  w.put(s.faults, kFaultBits);
  w.put(u(s.out), kHandoffBits);
  w.put(u(s.rst), kHandoffBits);
  w.put(u(s.sys), kSessBits);
  w.put(s.sys_hijacked ? 1 : 0, 1);
  w.put(u(s.map_kf), kKFileBits);
  w.put(s.map_kt, kTokenBits);
  w.put(s.kc, counter_bits());
  w.put(s.map_kc, counter_bits());
  if (b_.any_kexecs)
    w.put(s.kc_same ? 1 : 0, 1);
  if (b_.hijack)
    w.put(u(s.hj), kHijackBits);
  for (int o = 0; o < b_.owners; ++o)
    w.put(key(s.owner[o]), kOwnerBits);
  for (int d = 0; d < b_.owners * b_.fds; ++d)
    w.put(key(s.fd[d]), kFdBits);
  for (int j = 0; j < b_.sessions; ++j)
    w.put(key(s.session[j]), kSessionBits);
}

State Codec::decode(const std::uint64_t* in) const {
  BitReader r(in);
  State s;
  s.boot = static_cast<std::uint8_t>(r.get(kBootBits));
  s.faults = static_cast<std::uint8_t>(r.get(kFaultBits));
  s.out = static_cast<HandoffState>(r.get(kHandoffBits));
  s.rst = static_cast<HandoffState>(r.get(kHandoffBits));
  s.sys = static_cast<Sess>(r.get(kSessBits));
  s.sys_hijacked = r.get(1) != 0;
  s.map_kf = static_cast<KFile>(r.get(kKFileBits));
  s.map_kt = static_cast<std::uint8_t>(r.get(kTokenBits));
  s.kc = static_cast<std::uint8_t>(r.get(counter_bits()));
  s.map_kc = static_cast<std::uint8_t>(r.get(counter_bits()));
  if (b_.any_kexecs)
    s.kc_same = r.get(1) != 0;
  if (b_.hijack)
    s.hj = static_cast<Hijack>(r.get(kHijackBits));
  for (int o = 0; o < b_.owners; ++o) {
    const unsigned k = r.get(kOwnerBits);
    s.owner[o] = OwnerSlot{(k & 4u) != 0, (k & 2u) != 0, (k & 1u) != 0};
  }
  for (int d = 0; d < b_.owners * b_.fds; ++d) {
    const unsigned k = r.get(kFdBits);
    auto& x = s.fd[d];
    x.e = static_cast<Entry>((k >> 16) & 0xF);
    x.why = static_cast<Reason>((k >> 12) & 0xF);
    x.kf = static_cast<KFile>((k >> 9) & 0x7);
    x.kt = static_cast<std::uint8_t>((k >> 5) & 0xF);
    x.mt = static_cast<std::uint8_t>((k >> 1) & 0xF);
    x.foreign = (k & 1u) != 0;
  }
  for (int j = 0; j < b_.sessions; ++j) {
    const unsigned k = r.get(kSessionBits);
    auto& x = s.session[j];
    x.ss = static_cast<Sess>((k >> 10) & 0x7);
    x.e = static_cast<Entry>((k >> 6) & 0xF);
    x.why = static_cast<Reason>((k >> 2) & 0xF);
    x.svc = (k & 2u) != 0;
    x.mgr = (k & 1u) != 0;
  }
  return s;
}

bool has_symmetry(const Bounds& b) {
  if (b.fds >= 2)
    return true;
  if (b.sessions > b.owners)
    return true;  // an owner with two sessions
  for (int o = 0; o < b.owners; ++o) {
    for (int p = o + 1; p < b.owners; ++p) {
      const bool special = b.hijack && (o == 0 || p == 0);
      if (!special && sessions_of(b, o) == sessions_of(b, p))
        return true;
    }
  }
  return false;
}

void canonicalize(const World& world, State& s) {
  const Bounds& b = world.bounds();
  // Within each owner: fds, then sessions, in key order.
  for (int o = 0; o < b.owners; ++o) {
    auto* first = s.fd.data() + o * b.fds;
    std::sort(first, first + b.fds,
              [](const FdSlot& x, const FdSlot& y) { return key(x) < key(y); });
    const int n = sessions_of(b, o);
    for (int i = 1; i < n; ++i) {
      // Insertion sort over the owner's sessions o, o+N, o+2N, ...
      for (int k = i; k > 0; --k) {
        auto& lo = s.session[o + (k - 1) * b.owners];
        auto& hi = s.session[o + k * b.owners];
        if (key(hi) >= key(lo))
          break;
        std::swap(lo, hi);
      }
    }
  }
  // Interchangeable owners, by their whole block.
  std::array<int, kMaxOwners> perm{};
  std::iota(perm.begin(), perm.begin() + b.owners, 0);
  bool moved = false;
  for_each_owner_class(b, [&](int first, int end) {
    std::stable_sort(perm.begin() + first, perm.begin() + end,
                     [&](int x, int y) { return compare_blocks(b, s, x, y) < 0; });
    for (int i = first; i < end; ++i)
      moved = moved || perm[i] != i;
  });
  if (!moved)
    return;
  const State old = s;
  for (int o = 0; o < b.owners; ++o) {
    const int from = perm[o];
    s.owner[o] = old.owner[from];
    for (int i = 0; i < b.fds; ++i)
      s.fd[o * b.fds + i] = old.fd[from * b.fds + i];
    for (int j = 0; o + j * b.owners < b.sessions; ++j)
      s.session[o + j * b.owners] = old.session[from + j * b.owners];
  }
}

}  // namespace luo::proofs

namespace luo::proofs {
namespace {

std::uint64_t factorial(int n) {
  std::uint64_t f = 1;
  for (int i = 2; i <= n; ++i)
    f *= static_cast<std::uint64_t>(i);
  return f;
}

// Sorts a few values in place (std::sort on a short std::array trips GCC's -Warray-bounds).
template <class T, std::size_t N>
void sort_prefix(std::array<T, N>& a, int n) {
  for (int i = 1; i < n; ++i) {
    for (int k = i; k > 0 && a[k] < a[k - 1]; --k)
      std::swap(a[k], a[k - 1]);
  }
}

// The product of m! over the runs of equal values in a sorted sequence.
template <class It, class Eq>
std::uint64_t runs(It first, It last, Eq eq) {
  std::uint64_t p = 1;
  while (first != last) {
    It next = first + 1;
    while (next != last && eq(*first, *next))
      ++next;
    p *= factorial(static_cast<int>(next - first));
    first = next;
  }
  return p;
}

}  // namespace

std::uint64_t orbit_size(const World& world, const State& s) {
  const Bounds& b = world.bounds();
  std::uint64_t group = 1;
  std::uint64_t stabilizer = 1;
  // Within each owner: its fds and its sessions permute freely.
  for (int o = 0; o < b.owners; ++o) {
    group *= factorial(b.fds) * factorial(sessions_of(b, o));
    std::array<std::uint32_t, kMaxFdsPerOwner> fds{};
    for (int i = 0; i < b.fds; ++i)
      fds[i] = key(s.fd[o * b.fds + i]);
    sort_prefix(fds, b.fds);
    stabilizer *= runs(fds.begin(), fds.begin() + b.fds, std::equal_to<>());
    std::array<std::uint32_t, kMaxSessions> sessions{};
    const int n = sessions_of(b, o);
    for (int j = 0; j < n; ++j)
      sessions[j] = key(s.session[o + j * b.owners]);
    sort_prefix(sessions, n);
    stabilizer *= runs(sessions.begin(), sessions.begin() + n, std::equal_to<>());
  }
  // Interchangeable owners permute as whole blocks; equal blocks (adjacent in canonical form)
  // are swapped by the stabilizer.
  for_each_owner_class(b, [&](int first, int end) {
    group *= factorial(end - first);
    std::array<int, kMaxOwners> owners{};
    for (int i = first; i < end; ++i)
      owners[i - first] = i;
    stabilizer *= runs(owners.begin(), owners.begin() + (end - first),
                       [&](int x, int y) { return compare_blocks(b, s, x, y) == 0; });
  });
  return group / stabilizer;
}

}  // namespace luo::proofs
