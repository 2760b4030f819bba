// A template that instantiates two distinct children per level: 2^30 specializations,
// each costing the compiler memory, long before any of them could be emitted.
template <int Depth, int Index>
struct Node {
  static constexpr long value =
      Node<Depth - 1, 2 * Index>::value + Node<Depth - 1, 2 * Index + 1>::value;
};

template <int Index>
struct Node<0, Index> {
  static constexpr long value = 1;
};

int main() { return static_cast<int>(Node<30, 0>::value & 1); }
