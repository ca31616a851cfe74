// stl.cpp - a C++ program compiled by g++ under snug (and without) in the real-program test;
// it is then run with and without snug too: STL containers, strings, sorting, smart pointers.
#include <algorithm>
#include <cstdio>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <numeric>
#include <set>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

int main()
{
    std::vector<long> v;
    for (long i = 0; i < 500000; i++) v.push_back((i * 7919) % 100003);
    std::sort(v.begin(), v.end());
    std::printf("vector %zu first %ld last %ld sum %ld\n", v.size(), v.front(), v.back(),
                std::accumulate(v.begin(), v.end(), 0L));
    std::map<std::string, int> m;
    std::unordered_map<int, std::string> u;
    for (int i = 0; i < 100000; i++) {
        m["k" + std::to_string(i % 20000)] += i;
        u[i] = std::string(static_cast<size_t>(i % 64), static_cast<char>('a' + i % 26));
    }
    for (int i = 0; i < 100000; i += 3) u.erase(i);
    size_t ulen = 0;
    for (auto &kv : u) ulen += kv.second.size();
    std::printf("map %zu first %s=%d unordered %zu chars %zu\n", m.size(), m.begin()->first.c_str(),
                m.begin()->second, u.size(), ulen);
    std::list<std::string> l;
    std::deque<int> d;
    std::set<long> s;
    for (int i = 0; i < 100000; i++) {
        l.push_back(std::to_string(i));
        d.push_front(i);
        s.insert((i * 31L) % 50021);
        if (i % 5 == 0) { l.pop_front(); d.pop_back(); }
    }
    std::printf("list %zu deque %zu set %zu\n", l.size(), d.size(), s.size());
    std::vector<std::shared_ptr<std::vector<int>>> sp;
    for (int i = 0; i < 2000; i++) sp.push_back(std::make_shared<std::vector<int>>(i % 300, i));
    long t = 0;
    for (auto &p : sp) t += static_cast<long>(p->size());
    std::ostringstream os;
    for (int i = 0; i < 20000; i++) os << i << ';';
    std::printf("shared %ld stream %zu\n", t, os.str().size());
    return 0;
}
