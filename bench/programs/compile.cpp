// compile.cpp - the C++ program `make bench` compiles with g++ -O2 -c (the compiler is
// the benchmarked program, not this code).  Standard headers, templates, lambdas and
// regex make cc1plus allocate a lot; the object file must come out byte-identical
// under every allocator (-frandom-seed is fixed by the harness).
#include <algorithm>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <numeric>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <unordered_map>
#include <variant>
#include <vector>

namespace bench {

template <typename K, typename V>
struct Table {
    std::map<K, std::vector<V>> rows;
    void add(const K &k, V v) { rows[k].push_back(std::move(v)); }
    template <typename F>
    auto fold(F f) const {
        using R = decltype(f(std::declval<K>(), std::declval<const std::vector<V> &>()));
        std::vector<R> out;
        for (const auto &[k, v] : rows)
            out.push_back(f(k, v));
        return out;
    }
};

template <int N>
struct Fib { static constexpr long value = Fib<N - 1>::value + Fib<N - 2>::value; };
template <> struct Fib<0> { static constexpr long value = 0; };
template <> struct Fib<1> { static constexpr long value = 1; };

struct Shape {
    virtual ~Shape() = default;
    virtual double area() const = 0;
    virtual std::string name() const = 0;
};
struct Rect : Shape {
    double w, h;
    Rect(double a, double b) : w(a), h(b) {}
    double area() const override { return w * h; }
    std::string name() const override { return "rect"; }
};
struct Circle : Shape {
    double r;
    explicit Circle(double a) : r(a) {}
    double area() const override { return 3.14159265 * r * r; }
    std::string name() const override { return "circle"; }
};

using Value = std::variant<long, double, std::string, std::vector<long>>;

std::string describe(const Value &v)
{
    return std::visit([](const auto &x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        std::ostringstream os;
        if constexpr (std::is_same_v<T, std::vector<long>>)
            os << "vec" << x.size();
        else
            os << x;
        return os.str();
    }, v);
}

std::vector<std::string> words(const std::string &text)
{
    static const std::regex re("[A-Za-z]+");
    std::vector<std::string> out;
    for (std::sregex_iterator it(text.begin(), text.end(), re), end; it != end; ++it)
        out.push_back(it->str());
    return out;
}

std::unordered_map<std::string, int> count(const std::vector<std::string> &ws)
{
    std::unordered_map<std::string, int> m;
    for (const auto &w : ws)
        ++m[w];
    return m;
}

template <typename... Ts>
auto sum_all(Ts... xs) { return (xs + ... + 0); }

} // namespace bench

int main(int argc, char **argv)
{
    using namespace bench;
    std::vector<std::unique_ptr<Shape>> shapes;
    for (int i = 0; i < argc * 10; i++) {
        if (i % 2) shapes.push_back(std::make_unique<Rect>(i, i + 1));
        else shapes.push_back(std::make_unique<Circle>(i));
    }
    std::sort(shapes.begin(), shapes.end(),
              [](const auto &a, const auto &b) { return a->area() < b->area(); });
    Table<std::string, double> t;
    for (const auto &s : shapes)
        t.add(s->name(), s->area());
    auto sums = t.fold([](const std::string &k, const std::vector<double> &v) {
        return std::make_tuple(k, std::accumulate(v.begin(), v.end(), 0.0), v.size());
    });
    std::string text = argc > 1 ? argv[1] : "the quick brown fox jumps over the lazy dog the end";
    auto c = count(words(text));
    std::set<std::pair<int, std::string>> ranked;
    for (const auto &[w, n] : c)
        ranked.emplace(-n, w);
    std::vector<Value> vals{42L, 2.5, std::string("x"), std::vector<long>{1, 2, 3}};
    for (const auto &v : vals)
        std::cout << describe(v) << '\n';
    for (const auto &[k, s, n] : sums)
        std::cout << k << ' ' << s << ' ' << n << '\n';
    for (const auto &[n, w] : ranked)
        std::cout << w << ' ' << -n << '\n';
    std::function<long(int)> f = [&](int n) { return n < 2 ? n : f(n - 1) + f(n - 2); };
    std::cout << Fib<40>::value << ' ' << f(10) << ' ' << sum_all(1, 2, 3, 4) << '\n';
    return 0;
}
