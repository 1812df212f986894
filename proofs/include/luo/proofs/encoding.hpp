// luo/proofs/encoding.hpp: the checker's exact, compact state encoding and the symmetry
// reduction's canonical form.
//
// A State is packed field by field into as few 64-bit words as the bounds need (2 words for the
// default bounds), with no hashing and no loss: decode(encode(s)) == s for every state of the
// bounds. The visited set stores these words, so "distinct states" is exact.
//
// canonicalize() maps a state to the representative of its symmetry class: the fds of one owner
// are interchangeable (they differ only by index), and so are owners with the same shape (the
// same number of third-party sessions, and not the hijacking owner 0). It sorts fds within each
// owner, sessions within each owner, then interchangeable owners by their whole block. Why this
// is sound for this world (tokens are compared for equality and, within one owner, for order;
// Stage B hands tokens to identical staged entries), and what it does not cover (liveness), is in
// docs/properties.md.
//
//   Codec codec(bounds);
//   std::array<std::uint64_t, kMaxWords> words{};
//   codec.encode(state, words.data());
//   State back = codec.decode(words.data());   // == state
#pragma once

#include <array>
#include <cstdint>

#include "luo/proofs/world.hpp"

namespace luo::proofs {

inline constexpr int kMaxWords = 6;

class Codec {
 public:
  explicit Codec(const Bounds& bounds);
  int bits() const { return bits_; }
  int words() const { return (bits_ + 63) / 64; }
  void encode(const State& s, std::uint64_t* out) const;
  State decode(const std::uint64_t* in) const;

 private:
  int counter_bits() const;

  Bounds b_;
  int bits_ = 0;
};

// Replaces `s` by its symmetry class's representative.
void canonicalize(const World& world, State& s);

// Whether any symmetry applies to these bounds at all (for reporting).
bool has_symmetry(const Bounds& bounds);

// How many states the representative `canonical` stands for: its orbit under the permutations
// canonicalize() quotients by (|group| / |stabilizer|). Summed over a reduced run this bounds the
// unreduced state count from above: the orbit also holds states whose tokens Stage B would have
// handed out in another owner order, which the unreduced world never reaches.
std::uint64_t orbit_size(const World& world, const State& canonical);

}  // namespace luo::proofs
