# workload.pl - a Perl workload for the real-program test: hashes, regexes, sort, strings.
# Run with PERL_HASH_SEED=0; prints only sorted or otherwise deterministic output.
use strict;
use warnings;

my %h;
for my $i (1 .. 200000) {
    $h{"key$i"} = { n => $i, s => "v" x ($i % 30), l => [ $i, $i * 2 ] };
}
delete $h{"key$_"} for grep { $_ % 4 == 0 } 1 .. 200000;
my $sum = 0;
$sum += $h{$_}{n} + length($h{$_}{s}) for keys %h;
print "hash size ", scalar(keys %h), " sum $sum\n";

my $x = 1;
my @words = map { my $len = 3 + $_ % 9;
    join '', map { $x = ($x * 1103515245 + 12345) % 2147483648; chr(97 + ($x >> 16) % 6) } 1 .. $len } 1 .. 50000;
my $text = join ' ', map { $words[$_] . ($_ % 10 == 0 ? '.' : '') } 0 .. $#words;
my @sentences = split /\.\s*/, $text;
print "sentences ", scalar(@sentences), "\n";
my %count;
$count{$1}++ while $text =~ /\b([a-z]{5,7})\b/g;
my @top = (sort { $count{$b} <=> $count{$a} || $a cmp $b } keys %count)[0 .. 4];
print "top $_ $count{$_}\n" for @top;
(my $t2 = $text) =~ s/([aeiou])([a-z])/\U$2\E$1/g;
print "substituted length ", length($t2), " head ", substr($t2, 0, 40), "\n";

my @nums = map { ($_ * 7919) % 100003 } 1 .. 200000;
my @sorted = sort { $a <=> $b } @nums;
print "sorted @sorted[0..4] ... @sorted[-3..-1]\n";
my @recs = sort { $a->[1] cmp $b->[1] || $a->[0] <=> $b->[0] }
           map { [ $_, sprintf("%x", $_ * 2654435761 % 4294967296) ] } 1 .. 50000;
print "records $recs[0][0] $recs[0][1] $recs[-1][0] $recs[-1][1]\n";
my $big = '';
$big .= sprintf("%06d,", $_) for 1 .. 100000;
print "big string ", length($big), "\n";
