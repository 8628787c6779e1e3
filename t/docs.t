#!/usr/bin/perl

# Doc coverage: the module pages docs/ngx_octopus_*_module.md against the
# C sources (no nginx needed).  The C is read, not run: comments removed,
# the project's own macros expanded, adjacent string literals joined.
#
#   directives  every ngx_command_t entry of a module (the first member,
#               ngx_string("name"), of each initialiser of an ngx_command_t
#               array) has a "### name" section under "## Directives" of
#               its module's page, with a Syntax/Default/Context table
#               right after the heading; the Syntax starts with the name
#               (no arguments for NGX_CONF_NOARGS, "on | off" for
#               NGX_CONF_FLAG), the Default is not empty, the Context lists
#               exactly the contexts of the NGX_HTTP_*_CONF flags; the
#               page's table of contents links every directive; and every
#               documented directive exists in the module's C.  A
#               directive registered in common/ may be on any page.
#   variables   every variable registered (ngx_http_variable_t arrays, and
#               ngx_http_add_variable() / ngx_http_add_prefix_variable()
#               with a literal name) is a row `$name` of its module's
#               "## Embedded variables" table and vice versa; a prefix
#               variable (NGX_HTTP_VAR_PREFIX) is documented as its prefix
#               followed by a placeholder (`$octopus_jwt_claim_NAME`); no
#               other table has a `$variable` first column.
#   metrics     every metric family the C writes ("# TYPE name type" in
#               the joined strings, macros expanded, so names built from a
#               prefix macro and a suffix argument are found) is a row of
#               its module's "## Metrics" table with the same type, and
#               every row there is written by that module's C; a family
#               written in common/ must be on every module page.  Every
#               "# HELP name" written has a "# TYPE name".

use strict;
use warnings;

use FindBin;
use Test::More;

my $root = "$FindBin::Bin/..";

chdir $root or die "chdir $root: $!";

my %CONTEXT = (
    NGX_HTTP_MAIN_CONF => 'http',
    NGX_HTTP_SRV_CONF  => 'server',
    NGX_HTTP_LOC_CONF  => 'location',
    NGX_HTTP_UPS_CONF  => 'upstream',
    NGX_HTTP_SIF_CONF  => 'if in server',
    NGX_HTTP_LIF_CONF  => 'if in location',
    NGX_HTTP_LMT_CONF  => 'limit_except',
);


# ---------------------------------------------------------------- C reader

sub slurp {
    my ($file) = @_;

    open my $fh, '<', $file or die "open $file: $!";
    local $/;
    my $text = <$fh>;
    close $fh;

    return $text;
}


# comments out (strings and character constants kept), lines joined

sub strip_comments {
    my ($src) = @_;

    $src =~ s/\\\n//g;

    $src =~ s{
        ( "(?:[^"\\\n]|\\.)*" | '(?:[^'\\\n]|\\.)*' )
      | /\*.*?\*/
      | //[^\n]*
    }{ defined $1 ? $1 : ' ' }gsex;

    return $src;
}


# tokens: [kind, text]; kind is str, id, num or punct

sub tokenize {
    my ($src) = @_;
    my @t;

    while ($src =~ m{
        \G\s*(?:
            ("(?:[^"\\]|\\.)*")
          | ('(?:[^'\\]|\\.)*')
          | ([A-Za-z_]\w*)
          | (\.\.\.|->|\#\#|[0-9][\w.]*)
          | (\S)
        )
    }gcsx)
    {
        if (defined $1) { push @t, ['str', $1] }
        elsif (defined $2) { push @t, ['num', $2] }
        elsif (defined $3) { push @t, ['id', $3] }
        elsif (defined $4) { push @t, [$4 eq '...' || $4 eq '->'
                                       || $4 eq '##' ? 'punct' : 'num', $4] }
        else { push @t, ['punct', $5] }
    }

    return \@t;
}


# "#define" lines taken out into %$macros; other preprocessor lines dropped

sub split_defines {
    my ($src, $macros) = @_;
    my @code;

    for my $line (split /\n/, $src) {
        if ($line =~ /^\s*#\s*define\s+(\w+)(\(([^)]*)\))?(.*)$/) {
            my ($name, $fn, $params, $body) = ($1, $2, $3, $4);

            $macros->{$name} = {
                fn     => defined $fn,
                params => defined $fn
                          ? [ map { s/^\s+|\s+$//gr } split /,/, $params ]
                          : [],
                body   => tokenize($body),
            };
            push @code, '';
            next;
        }

        if ($line =~ /^\s*#/) {
            push @code, '';
            next;
        }

        push @code, $line;
    }

    return join "\n", @code;
}


# the macros of every header of the modules and common/

my %header_macros;

for my $h (sort glob('ngx_octopus_*_module/*.h common/*.h')) {
    split_defines(strip_comments(slurp($h)), \%header_macros);
}


# expand the project's macros (not nginx's: those stay as tokens)

sub expand {
    my ($tokens, $macros, $depth) = @_;
    my @out;

    die "macro expansion too deep\n" if $depth > 32;

    for (my $i = 0; $i < @$tokens; $i++) {
        my $t = $tokens->[$i];
        my $m = $t->[0] eq 'id' ? $macros->{$t->[1]} : undef;

        if (!$m) {
            push @out, $t;
            next;
        }

        if (!$m->{fn}) {
            push @out, @{ expand($m->{body},
                                 { %$macros, $t->[1] => undef },
                                 $depth + 1) };
            next;
        }

        # a function-like macro: only when called

        if ($i + 1 >= @$tokens || $tokens->[$i + 1][1] ne '(') {
            push @out, $t;
            next;
        }

        my (@args, @arg);
        my $level = 0;
        my $j;

        for ($j = $i + 2; $j < @$tokens; $j++) {
            my $x = $tokens->[$j];

            if ($x->[0] eq 'punct' && $x->[1] =~ /^[([{]$/) {
                $level++;
            } elsif ($x->[0] eq 'punct' && $x->[1] =~ /^[)\]}]$/) {
                if ($level == 0) {
                    last;
                }
                $level--;
            } elsif ($level == 0 && $x->[0] eq 'punct' && $x->[1] eq ',') {
                push @args, [@arg];
                @arg = ();
                next;
            }

            push @arg, $x;
        }

        push @args, [@arg] if @arg || @args;

        my %bind;
        my @params = @{ $m->{params} };

        for my $k (0 .. $#params) {
            if ($params[$k] eq '...') {
                my @rest;
                for my $a (@args[$k .. $#args]) {
                    push @rest, ['punct', ','] if @rest;
                    push @rest, @$a;
                }
                $bind{__VA_ARGS__} = \@rest;
                last;
            }
            $bind{$params[$k]} = $args[$k] // [];
        }

        my @body = map {
            $_->[0] eq 'id' && exists $bind{$_->[1]} ? @{ $bind{$_->[1]} } : $_
        } @{ $m->{body} };

        push @out, @{ expand(\@body, { %$macros, $t->[1] => undef },
                             $depth + 1) };
        $i = $j;
    }

    return \@out;
}


sub unquote {
    my ($s) = @_;

    $s = substr $s, 1, -1;
    $s =~ s/\\(n|t|r|\\|"|')/
        { n => "\n", t => "\t", r => "\r", '\\' => '\\', '"' => '"',
          "'" => "'" }->{$1}/ge;

    return $s;
}


# adjacent string literals joined, as the compiler does

sub joined_strings {
    my ($tokens) = @_;
    my (@strings, $cur);

    for my $t (@$tokens) {
        if ($t->[0] eq 'str') {
            $cur = '' unless defined $cur;
            $cur .= unquote($t->[1]);
            next;
        }

        push @strings, $cur if defined $cur;
        undef $cur;
    }

    push @strings, $cur if defined $cur;

    return @strings;
}


# the initialisers of "T name[] = { ... };": a list of entries (tokens)

sub array_entries {
    my ($tokens, $type, $file, $errors) = @_;
    my @arrays;

    for (my $i = 0; $i < @$tokens; $i++) {
        next unless $tokens->[$i][0] eq 'id' && $tokens->[$i][1] eq $type;

        # T name [ ] = {
        my @want = (['id'], ['punct', '['], ['punct', ']'], ['punct', '='],
                    ['punct', '{']);
        my $ok = 1;

        for my $k (0 .. $#want) {
            my $x = $tokens->[$i + 1 + $k] or do { $ok = 0; last };
            if ($x->[0] ne ($want[$k][0] eq 'id' ? 'id' : 'punct')
                || (defined $want[$k][1] && $x->[1] ne $want[$k][1]))
            {
                $ok = 0;
                last;
            }
        }

        next unless $ok;

        my $name = $tokens->[$i + 1][1];
        my $j = $i + 1 + @want;
        my (@entries, @cur);
        my $level = 1;

        for (; $j < @$tokens; $j++) {
            my $x = $tokens->[$j];

            if ($x->[0] eq 'punct' && $x->[1] eq '{') {
                $level++;
                next if $level == 2;
            } elsif ($x->[0] eq 'punct' && $x->[1] eq '}') {
                $level--;
                if ($level == 1) {
                    push @entries, [@cur];
                    @cur = ();
                    next;
                }
                last if $level == 0;
            }

            if ($level >= 2) {
                push @cur, $x;
            } elsif ($x->[0] eq 'id') {
                # ngx_null_command, ngx_http_null_variable: the end marker
                push @$errors, "$file: $type $name: unexpected \"$x->[1]\""
                    unless $x->[1] =~ /^ngx_(?:http_)?null_\w+$/;
            }
        }

        push @arrays, [$name, \@entries];
        $i = $j;
    }

    return @arrays;
}


# first member ngx_string("name"): the name; the members split at commas

sub entry_members {
    my ($entry) = @_;
    my (@members, @cur);
    my $level = 0;

    for my $x (@$entry) {
        if ($x->[0] eq 'punct' && $x->[1] =~ /^[([{]$/) {
            $level++;
        } elsif ($x->[0] eq 'punct' && $x->[1] =~ /^[)\]}]$/) {
            $level--;
        } elsif ($level == 0 && $x->[0] eq 'punct' && $x->[1] eq ',') {
            push @members, [@cur];
            @cur = ();
            next;
        }
        push @cur, $x;
    }

    push @members, [@cur] if @cur;

    return @members;
}


sub ngx_string_name {
    my ($member) = @_;

    return undef unless @$member == 4
        && $member->[0][1] eq 'ngx_string' && $member->[1][1] eq '('
        && $member->[2][0] eq 'str' && $member->[3][1] eq ')';

    return unquote($member->[2][1]);
}


# ---------------------------------------------------------------- sources

my (%c_dir, %c_var, %c_prefix_var, %c_metric, %c_help, %c_sample,
    @c_errors);
my @modules = map { s{/$}{}r } sort grep { -d } glob('ngx_octopus_*_module/');

ok(@modules >= 3, 'module folders found: ' . join(' ', @modules));

for my $file (sort glob('ngx_octopus_*_module/*.c common/*.c')) {
    my ($owner) = $file =~ m{^([^/]+)/};
    my %macros = %header_macros;
    my $code = split_defines(strip_comments(slurp($file)), \%macros);
    my $raw = tokenize($code);

    # directives

    for my $a (array_entries($raw, 'ngx_command_t', $file, \@c_errors)) {
        my ($array, $entries) = @$a;

        for my $e (@$entries) {
            my @m = entry_members($e);
            my $name = ngx_string_name($m[0] // []);

            if (!defined $name || @m < 2) {
                push @c_errors, "$file: $array: an entry whose first member "
                                . "is not ngx_string(\"...\")";
                next;
            }

            my %flags = map { $_->[1] => 1 } grep { $_->[0] eq 'id' }
                        @{ $m[1] };

            push @c_errors, "$file: directive $name is registered twice"
                if $c_dir{$owner}{$name};

            $c_dir{$owner}{$name} = {
                file     => $file,
                contexts => [ sort map { $CONTEXT{$_} }
                              grep { $CONTEXT{$_} } keys %flags ],
                noargs   => $flags{NGX_CONF_NOARGS} ? 1 : 0,
                flag     => $flags{NGX_CONF_FLAG} ? 1 : 0,
            };
        }
    }

    # variables: arrays

    for my $a (array_entries($raw, 'ngx_http_variable_t', $file,
                             \@c_errors))
    {
        my ($array, $entries) = @$a;

        for my $e (@$entries) {
            my @m = entry_members($e);
            my $name = ngx_string_name($m[0] // []);

            if (!defined $name) {
                push @c_errors, "$file: $array: a variable whose first "
                                . "member is not ngx_string(\"...\")";
                next;
            }

            my $prefix = grep { $_->[1] eq 'NGX_HTTP_VAR_PREFIX' } @$e;

            if ($prefix) {
                $c_prefix_var{$owner}{$name} = $file;
            } else {
                $c_var{$owner}{$name} = $file;
            }
        }
    }

    # variables: ngx_http_add_variable(cf, &name, flags) with a literal name

    my %str;

    for (my $i = 0; $i + 6 < @$raw; $i++) {
        # ngx_str_t name = ngx_string("...");
        if ($raw->[$i][1] eq 'ngx_str_t' && $raw->[$i + 1][0] eq 'id'
            && $raw->[$i + 2][1] eq '='
            && $raw->[$i + 3][1] eq 'ngx_string'
            && $raw->[$i + 5][0] eq 'str')
        {
            $str{ $raw->[$i + 1][1] } = unquote($raw->[$i + 5][1]);
        }
    }

    my $func = '';

    for (my $i = 0; $i < @$raw; $i++) {
        my $t = $raw->[$i];

        # the function being read: "name (" at the start of a definition
        $func = $t->[1] if $t->[0] eq 'id' && $raw->[$i + 1]
                           && $raw->[$i + 1][1] eq '('
                           && $t->[1] =~ /^ngx_octopus_/
                           && ($i == 0 || $raw->[$i - 1][0] eq 'punct'
                               && $raw->[$i - 1][1] eq '*'
                               || $raw->[$i - 1][0] eq 'id'
                                  && $raw->[$i - 1][1] =~ /^(?:ngx_int_t|
                                     void|char|ngx_uint_t|u_char|static)$/x);

        next unless $t->[0] eq 'id'
            && $t->[1] =~ /^ngx_http_add_(prefix_)?variable$/;

        my $is_prefix = defined $1;
        my @m = entry_members([ @$raw[$i + 2 .. $#$raw] ]);
        my $arg = $m[1] // [];

        if (@$arg == 2 && $arg->[0][1] eq '&' && exists $str{$arg->[1][1]}) {
            my $name = $str{ $arg->[1][1] };
            my $flags = join ' ', map { $_->[1] } @{ $m[2] // [] };

            if ($is_prefix || $flags =~ /NGX_HTTP_VAR_PREFIX/) {
                $c_prefix_var{$owner}{$name} = $file;
            } else {
                $c_var{$owner}{$name} = $file;
            }
            next;
        }

        # the helper that registers the arrays read above
        next if $file eq 'common/ngx_octopus_common.c'
                && $func eq 'ngx_octopus_add_variables';

        push @c_errors, "$file: $t->[1]() in $func: the variable's name is "
                        . "not a literal this test can read";
    }

    # metrics: "# TYPE name type" and "# HELP name" in the joined strings

    my $expanded = eval { expand($raw, \%macros, 0) };

    if (!$expanded) {
        push @c_errors, "$file: $@";
        next;
    }

    for my $s (joined_strings($expanded)) {
        while ($s =~ /^# TYPE (\S+) (\S+)$/mg) {
            my ($name, $type) = ($1, $2);

            push @c_errors, "$file: metric $name written as $type and "
                            . "$c_metric{$owner}{$name}{type} in "
                            . "$c_metric{$owner}{$name}{file}"
                if $c_metric{$owner}{$name}
                   && $c_metric{$owner}{$name}{type} ne $type;

            $c_metric{$owner}{$name} = { type => $type, file => $file };
        }

        while ($s =~ /^# HELP (\S+) /mg) {
            $c_help{$1} = $file;
        }

        # sample lines: "name{labels} value" or "name value"
        while ($s =~ /^(octopus_[a-z0-9_]+)(?:\{| %)/mg) {
            $c_sample{$owner}{$1} = $file;
        }
    }
}

# the type a metric is written with, in any module (no autovivification)

sub c_metric_type {
    my ($name) = @_;

    for my $o (keys %c_metric) {
        return $c_metric{$o}{$name}{type} if exists $c_metric{$o}{$name};
    }

    return undef;
}

for my $o (sort keys %c_sample) {
    for my $name (sort keys %{ $c_sample{$o} }) {
        my $family = $name;

        # a histogram's or a summary's series
        my ($base) = $name =~ /^(.+)_(?:bucket|sum|count)$/;

        if (defined $base
            && (c_metric_type($base) // '') =~ /^(?:histogram|summary)$/)
        {
            $family = $base;
        }

        push @c_errors, "$c_sample{$o}{$name}: metric $name is written "
                        . "without a # TYPE line"
            unless defined c_metric_type($family);
    }
}

for my $name (sort keys %c_help) {
    push @c_errors, "$c_help{$name}: metric $name has a # HELP line but no "
                    . "# TYPE line"
        unless defined c_metric_type($name);
}

ok(!@c_errors, 'the C sources are readable') or diag join "\n", @c_errors;

for my $m (@modules) {
    ok(keys %{ $c_dir{$m} || {} } >= 1,
       "$m: directives found in the C (" . keys(%{ $c_dir{$m} || {} })
       . ")");
}

ok((grep { keys %{ $c_metric{$_} } } keys %c_metric) >= 3,
   'metrics found in the C of at least three modules');

for my $o (sort keys %c_dir) {
    note "$o directives: ", join ' ', sort keys %{ $c_dir{$o} };
}

for my $o (sort keys %c_var) {
    note "$o variables: ", join ' ', sort keys %{ $c_var{$o} };
}

for my $o (sort keys %c_prefix_var) {
    note "$o prefix variables: ", join ' ', sort keys %{ $c_prefix_var{$o} };
}

for my $o (sort keys %c_metric) {
    note "$o metrics: ", join ' ', map { "$_($c_metric{$o}{$_}{type})" }
                                   sort keys %{ $c_metric{$o} };
}


# ---------------------------------------------------------------- pages

sub cells {
    my ($line) = @_;

    $line =~ s/^\s*\|//;
    $line =~ s/\|\s*$//;

    return map { s/^\s+|\s+$//gr } split /(?<!\\)\|/, $line, -1;
}


sub code_items {
    my ($cell) = @_;

    return $cell =~ /`([^`]+)`/g;
}


sub read_page {
    my ($file) = @_;
    my @lines = split /\n/, slurp($file);
    my %page = (file => $file, toc => {}, dir => {}, var => {},
                metric => {}, errors => []);
    my ($section, $heading) = ('', undef);
    my $fence = 0;

    for (my $i = 0; $i < @lines; $i++) {
        my $l = $lines[$i];

        if ($l =~ /^```/) {
            $fence = !$fence;
            next;
        }

        next if $fence;

        if ($section eq '' && $l =~ /^\s*- \[([^\]]+)\]\(#([^)]+)\)\s*$/) {
            $page{toc}{$1} = $2;
            next;
        }

        if ($l =~ /^## (.+?)\s*$/) {
            $section = $1;
            $heading = undef;
            next;
        }

        if ($l =~ /^### (.+?)\s*$/) {
            $heading = $1;

            next unless $section eq 'Directives';

            push @{ $page{errors} }, "$file:" . ($i + 1) . ": ### $heading "
                                     . "twice"
                if $page{dir}{$heading};

            # the Syntax/Default/Context table right after the heading

            my $j = $i + 1;
            $j++ while $j < @lines && $lines[$j] =~ /^\s*$/;

            my @table;
            push @table, $lines[$j++] while $j < @lines
                                            && $lines[$j] =~ /^\s*\|/;

            my (%row, @order);

            for my $t (@table) {
                my @c = cells($t);
                next if @c && $c[0] =~ /^[-: ]*$/ && ($c[1] // '') =~ /^[-: ]*$/;
                if (@c == 2 && $c[0] =~ /^(Syntax|Default|Context):$/) {
                    $row{$1} = $c[1];
                    push @order, $1;
                } else {
                    push @{ $page{errors} }, "$file:" . ($i + 1)
                        . ": ### $heading: unexpected table row \"$t\"";
                }
            }

            if ("@order" ne 'Syntax Default Context') {
                push @{ $page{errors} }, "$file:" . ($i + 1) . ": ### "
                    . "$heading: no Syntax/Default/Context table after the "
                    . "heading (rows: @order)";
            }

            $page{dir}{$heading} = { %row, line => $i + 1 };
            next;
        }

        next unless $l =~ /^\s*\|/;

        my @c = cells($l);
        my ($first) = code_items($c[0] // '');

        next unless defined $first && $c[0] =~ /^`[^`]+`$/;

        if ($first =~ /^\$(\w+(?:<\w+>|\*)?)$/) {
            if ($section eq 'Embedded variables') {
                push @{ $page{errors} }, "$file:" . ($i + 1) . ": \$$1 "
                                         . "twice"
                    if $page{var}{$1};
                $page{var}{$1} = $i + 1;
            } else {
                push @{ $page{errors} }, "$file:" . ($i + 1) . ": variable "
                    . "\$$1 in a table outside \"## Embedded variables\"";
            }
            next;
        }

        if ($section eq 'Metrics' && $first =~ /^(octopus_\w+)$/) {
            push @{ $page{errors} }, "$file:" . ($i + 1) . ": metric $1 "
                                     . "twice"
                if $page{metric}{$1};
            $page{metric}{$1} = { type => $c[1] // '', line => $i + 1 };
        }
    }

    for my $s ('Directives', 'Embedded variables', 'Metrics') {
        push @{ $page{errors} }, "$file: no \"## $s\" section"
            unless grep { /^## \Q$s\E\s*$/ } @lines;
    }

    return \%page;
}


my %page;

for my $m (@modules) {
    my $file = "docs/$m.md";

    if (!-f $file) {
        fail("$file exists");
        next;
    }

    $page{$m} = read_page($file);

    ok(!@{ $page{$m}{errors} }, "$file: the page follows the template")
        or diag join "\n", @{ $page{$m}{errors} };
}

# a stray page for a module that does not exist

for my $file (sort glob('docs/ngx_octopus_*_module.md')) {
    my ($m) = $file =~ m{docs/(.+)\.md$};
    ok(grep({ $_ eq $m } @modules), "$file: module $m exists");
}


# ---------------------------------------------------------------- directives

my @errors;

for my $m (@modules) {
    my $p = $page{$m} or next;
    my $file = $p->{file};

    for my $name (sort keys %{ $c_dir{$m} }) {
        my $c = $c_dir{$m}{$name};
        my $d = $p->{dir}{$name};

        if (!$d) {
            push @errors, "directive $name ($c->{file}) has no \"### $name\""
                          . " section under \"## Directives\" in $file";
            next;
        }

        push @errors, "directive $name is not in the table of contents of "
                      . "$file (- [$name](#$name))"
            unless ($p->{toc}{$name} // '') eq $name;

        next unless defined $d->{Syntax};

        my ($syntax) = code_items($d->{Syntax});
        $syntax = ($syntax // '') =~ s/\\\|/|/gr;

        if ($syntax !~ /^\Q$name\E(?: |;$)/) {
            push @errors, "$file:$d->{line}: directive $name: the Syntax "
                          . "does not start with the name: \"$d->{Syntax}\"";
        } elsif ($c->{noargs} && $syntax ne "$name;") {
            push @errors, "$file:$d->{line}: directive $name takes no "
                          . "arguments in $c->{file}: Syntax \"$syntax\"";
        } elsif ($c->{flag} && $syntax !~ /^\Q$name\E on \| off;$/) {
            push @errors, "$file:$d->{line}: directive $name is a flag in "
                          . "$c->{file}: Syntax must be \"$name on | off;\"";
        }

        push @errors, "$file:$d->{line}: directive $name: empty Default"
            if ($d->{Default} // '') eq '';

        my @ctx = sort { $a cmp $b } code_items($d->{Context} // '');

        push @errors, "$file:$d->{line}: directive $name: Context \"@ctx\", "
                      . "the code ($c->{file}) says \"@{ $c->{contexts} }\""
            if "@ctx" ne "@{ $c->{contexts} }";
    }

    for my $name (sort keys %{ $p->{dir} }) {
        next if $c_dir{$m}{$name} || $c_dir{common}{$name};
        push @errors, "$file:$p->{dir}{$name}{line}: directive $name is "
                      . "documented but not registered in $m/ or common/";
    }
}

for my $name (sort keys %{ $c_dir{common} || {} }) {
    push @errors, "directive $name ($c_dir{common}{$name}{file}) is on no "
                  . "module page"
        unless grep { $page{$_}{dir}{$name} } keys %page;
}

ok(!@errors, 'every directive documented, every documented directive '
             . 'registered') or diag join "\n", @errors;


# ---------------------------------------------------------------- variables

@errors = ();

sub var_in_c {
    my ($m, $name) = @_;

    for my $o ($m, 'common') {
        return 1 if $c_var{$o}{$name};
        for my $p (keys %{ $c_prefix_var{$o} || {} }) {
            return 1 if length $name > length $p
                        && substr($name, 0, length $p) eq $p;
        }
    }

    return 0;
}

for my $m (@modules) {
    my $p = $page{$m} or next;
    my $file = $p->{file};

    for my $name (sort keys %{ $c_var{$m} || {} }) {
        push @errors, "variable \$$name ($c_var{$m}{$name}) is not in the "
                      . "Embedded variables table of $file"
            unless $p->{var}{$name};
    }

    for my $prefix (sort keys %{ $c_prefix_var{$m} || {} }) {
        push @errors, "prefix variable \$${prefix}... "
                      . "($c_prefix_var{$m}{$prefix}) is not in the Embedded "
                      . "variables table of $file (as \$${prefix}NAME)"
            unless grep { length $_ > length $prefix
                          && substr($_, 0, length $prefix) eq $prefix }
                   keys %{ $p->{var} };
    }

    for my $name (sort keys %{ $p->{var} }) {
        push @errors, "$file:$p->{var}{$name}: variable \$$name is "
                      . "documented but not registered in $m/ or common/"
            unless var_in_c($m, $name);
    }
}

for my $name (sort keys %{ $c_var{common} || {} }) {
    push @errors, "variable \$$name ($c_var{common}{$name}) is on no page"
        unless grep { $page{$_}{var}{$name} } keys %page;
}

ok(!@errors, 'every variable documented, every documented variable '
             . 'registered') or diag join "\n", @errors;


# ---------------------------------------------------------------- metrics

@errors = ();

for my $m (@modules) {
    my $p = $page{$m} or next;
    my $file = $p->{file};
    my %want = (%{ $c_metric{common} || {} }, %{ $c_metric{$m} || {} });

    for my $name (sort keys %want) {
        my $d = $p->{metric}{$name};

        if (!$d) {
            push @errors, "metric $name ($want{$name}{file}) is not in the "
                          . "Metrics table of $file";
            next;
        }

        push @errors, "$file:$d->{line}: metric $name: type \"$d->{type}\", "
                      . "the code ($want{$name}{file}) writes "
                      . "\"$want{$name}{type}\""
            if $d->{type} ne $want{$name}{type};
    }

    for my $name (sort keys %{ $p->{metric} }) {
        push @errors, "$file:$p->{metric}{$name}{line}: metric $name is "
                      . "documented but not written by $m/ or common/"
            unless $want{$name};
    }
}

ok(!@errors, 'every metric documented with its type, every documented '
             . 'metric written') or diag join "\n", @errors;

done_testing();
