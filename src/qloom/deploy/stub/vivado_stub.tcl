# A recorder for the Vivado / xsct commands qloom's generated scripts use, for tclsh.
#
#   QLOOM_STUB_LOG=calls.jsonl [QLOOM_STUB_BOARDS="xilinx.com:zcu104:part0:1.1 ..."] tclsh vivado_stub.tcl SCRIPT.tcl
#
# Every stubbed call is appended to the log as one JSON line {"cmd", "args", "ret"}. A command
# that is neither Tcl's nor stubbed here is an error (no silent no-ops). Return values are
# modelled only as far as the scripts need them: projects, files, cells, ports, pins, runs,
# IP-XACT objects and properties set earlier. Checks of what the calls mean live in tclcheck.py.

namespace eval ::stub {
  variable log [open $::env(QLOOM_STUB_LOG) a]
  variable boards [expr {[info exists ::env(QLOOM_STUB_BOARDS)] ? $::env(QLOOM_STUB_BOARDS) : ""}]
  variable props [dict create]
  variable cells [dict create]
  variable ports [dict create]
  variable files [list]
  variable virtual [list]
  variable project ""
  variable projdir ""
  variable bd ""
  variable catalog [list]
  variable packaged [dict create]
  variable busifs [dict create]
  variable groups [dict create]
  variable runs [dict create]
  variable opened ""
}

proc ::stub::json {s} {
  return "\"[string map [list \\ \\\\ \" \\\" \n \\n \r \\r \t \\t] $s]\""
}

proc ::stub::record {cmd argl ret} {
  variable log
  set items [list]
  foreach a $argl { lappend items [json $a] }
  puts $log "{\"cmd\": [json $cmd], \"args\": \[[join $items {, }]\], \"ret\": [json $ret]}"
  flush $log
}

# stub NAME BODY: define NAME (any arguments, in $args) whose BODY returns the value; the call is logged.
proc ::stub::cmd {name body} {
  proc ::stub::impl::$name {args} $body
  proc ::$name {args} [format {
    set ret [uplevel 1 [list ::stub::impl::%s {*}$args]]
    ::stub::record %s $args $ret
    return $ret
  } $name $name]
}
namespace eval ::stub::impl {}
namespace eval ::stub::impl::ipx {}
namespace eval ::ipx {}

proc ::stub::fail {msg} { return -code error "stub: $msg" }

# option value after FLAG in an argument list ("" if absent); the rest without options
proc ::stub::opt {argl flag {default ""}} {
  set i [lsearch -exact $argl $flag]
  if {$i < 0} { return $default }
  return [lindex $argl [expr {$i + 1}]]
}
proc ::stub::has {argl flag} { return [expr {[lsearch -exact $argl $flag] >= 0}] }
# positional arguments: drop -flags and the values of the flags listed in VALUED
proc ::stub::positional {argl valued} {
  set out [list]
  for {set i 0} {$i < [llength $argl]} {incr i} {
    set a [lindex $argl $i]
    if {[string match -* $a]} {
      if {[lsearch -exact $valued $a] >= 0} { incr i }
      continue
    }
    lappend out $a
  }
  return $out
}

proc ::stub::need_cell {path} {
  variable cells
  set cell [lindex [split [string trimleft $path /] /] 0]
  if {![dict exists $cells $cell]} { fail "no block-design cell '$cell' (in '$path')" }
}

rename unknown ::stub::tcl_unknown
proc unknown {args} {
  ::stub::record unknown $args ""
  return -code error "stub: unknown command '[lindex $args 0]' (not Tcl, not a stubbed Vivado/xsct command)"
}

# ---------------------------------------------------------------- project and files
::stub::cmd create_project {
  set pos [::stub::positional $args {-part -ip}]
  if {[llength $pos] != 2} { ::stub::fail "create_project wants NAME DIR, got $pos" }
  if {[::stub::opt $args -part] eq ""} { ::stub::fail "create_project without -part" }
  set ::stub::project [lindex $pos 0]
  set ::stub::projdir [lindex $pos 1]
  set ::stub::files [list]
  file mkdir $::stub::projdir
  return [lindex $pos 0]
}
::stub::cmd current_project { return $::stub::project }
::stub::cmd close_project { set ::stub::project ""; return "" }
::stub::cmd current_fileset { return sources_1 }
::stub::cmd get_board_parts {
  set pattern [lindex [::stub::positional $args {}] 0]
  set hits [list]
  foreach b $::stub::boards { if {[string match $pattern $b]} { lappend hits $b } }
  return $hits
}
::stub::cmd add_files {
  foreach f [::stub::positional $args {-fileset -of_objects}] {
    foreach one $f {
      if {![file exists $one] && [lsearch -exact $::stub::virtual $one] < 0} { ::stub::fail "add_files: no file $one" }
      lappend ::stub::files [file normalize $one]
    }
  }
  return [concat {*}[::stub::positional $args {-fileset -of_objects}]]
}
::stub::cmd get_files {
  set hits [list]
  foreach pattern [concat {*}[::stub::positional $args {-of_objects -filter}]] {
    foreach f [concat $::stub::files $::stub::virtual] {
      if {[string match $pattern $f] || [string match $pattern [file tail $f]] || [string match */$pattern $f]} {
        lappend hits $f
      }
    }
  }
  if {![llength $hits]} { ::stub::fail "get_files: nothing matches [::stub::positional $args {-of_objects -filter}]" }
  return [lsort -unique $hits]
}
::stub::cmd update_compile_order { return "" }
::stub::cmd update_ip_catalog {
  set repos [expr {[dict exists $::stub::props $::stub::project ip_repo_paths] ?
                   [dict get $::stub::props $::stub::project ip_repo_paths] : ""}]
  dict for {root vlnv} $::stub::packaged {
    foreach r $repos { if {[file normalize $r] eq [file normalize $root]} { lappend ::stub::catalog $vlnv } }
  }
  return ""
}
::stub::cmd set_property {
  set argl [lsearch -all -inline -not -regexp $args {^-(quiet|verbose)$}]
  if {[lindex $argl 0] eq "-dict"} {
    set pairs [lindex $argl 1]
    set objs [lindex $argl 2]
  } else {
    set pairs [list [lindex $argl 0] [lindex $argl 1]]
    set objs [lindex $argl 2]
  }
  if {![llength $objs]} { ::stub::fail "set_property on no object: $args" }
  foreach obj $objs {
    foreach {k v} $pairs { dict set ::stub::props $obj $k $v }
  }
  return ""
}
::stub::cmd get_property {
  set pos [::stub::positional $args {}]
  lassign $pos name obj
  if {[dict exists $::stub::props $obj $name]} { return [dict get $::stub::props $obj $name] }
  if {[dict exists $::stub::runs $obj]} {
    switch -- $name {
      PROGRESS { return "100%" }
      STATUS { return "stub: complete" }
      DIRECTORY { return [file join $::stub::projdir $::stub::project.runs $obj] }
    }
  }
  ::stub::fail "get_property $name of '$obj': never set (the stub models only properties set earlier)"
}

# ---------------------------------------------------------------- IP packaging (ipx::)
::stub::cmd ipx::package_project {
  set root [::stub::opt $args -root_dir]
  if {$root eq ""} { ::stub::fail "ipx::package_project without -root_dir" }
  set ::stub::core core
  dict set ::stub::props core root_dir $root
  dict set ::stub::props core vendor [::stub::opt $args -vendor]
  dict set ::stub::props core library [::stub::opt $args -library]
  # the project's files become the core's synthesis and simulation file groups (relative to the root)
  set rel [list]
  foreach f $::stub::files {
    set r [string range $f [string length [file normalize $root]/] end]
    lappend rel $r
  }
  dict set ::stub::groups xilinx_anylanguagesynthesis $rel
  dict set ::stub::groups xilinx_anylanguagebehavioralsimulation $rel
  set ::stub::busifs [dict create]
  return core
}
::stub::cmd ipx::current_core { return core }
::stub::cmd ipx::get_file_groups {
  set name [lindex [::stub::positional $args {-of_objects}] 0]
  if {![dict exists $::stub::groups $name]} { ::stub::fail "no file group $name" }
  return "filegroup:$name"
}
::stub::cmd ipx::get_files {
  set fg [string range [::stub::opt $args -of_objects] 10 end]
  set name [lindex [::stub::positional $args {-of_objects}] 0]
  if {[lsearch -exact [dict get $::stub::groups $fg] $name] >= 0} { return "file:$fg:$name" }
  if {[::stub::has $args -quiet]} { return "" }
  ::stub::fail "no file $name in file group $fg"
}
::stub::cmd ipx::add_file {
  lassign [::stub::positional $args {}] name fgobj
  set fg [string range $fgobj 10 end]
  dict lappend ::stub::groups $fg $name
  return "file:$fg:$name"
}
::stub::cmd ipx::infer_bus_interface {
  lassign [::stub::positional $args {}] portlist vlnv core
  # Vivado names an inferred interface by its ports' common prefix (s_axis_tdata ... -> s_axis)
  set name [lindex $portlist 0]
  if {[llength $portlist] > 1} { regsub {_[^_]+$} $name "" name }
  dict set ::stub::busifs $name $vlnv
  return "busif:$name"
}
::stub::cmd ipx::get_bus_interfaces {
  set name [lindex [::stub::positional $args {-of_objects}] 0]
  if {[dict exists $::stub::busifs $name]} { return "busif:$name" }
  if {[::stub::has $args -quiet]} { return "" }
  ::stub::fail "no bus interface $name"
}
::stub::cmd ipx::get_bus_parameters {
  set name [lindex [::stub::positional $args {-of_objects}] 0]
  set bi [::stub::opt $args -of_objects]
  if {[dict exists $::stub::props "busparam:$bi:$name"]} { return "busparam:$bi:$name" }
  return ""
}
::stub::cmd ipx::add_bus_parameter {
  lassign [::stub::positional $args {}] name bi
  dict set ::stub::props "busparam:$bi:$name" created 1
  return "busparam:$bi:$name"
}
::stub::cmd ipx::associate_bus_interfaces { return "" }
::stub::cmd ipx::create_xgui_files { return "" }
::stub::cmd ipx::update_checksums { return "" }
::stub::cmd ipx::check_integrity { return "" }
::stub::cmd ipx::save_core {
  set p $::stub::props
  set vlnv "[dict get $p core vendor]:[dict get $p core library]:[dict get $p core name]:[dict get $p core version]"
  dict set ::stub::packaged [dict get $p core root_dir] $vlnv
  return ""
}

# ---------------------------------------------------------------- block design
::stub::cmd create_bd_design {
  set name [lindex [::stub::positional $args {}] 0]
  set ::stub::bd $name
  lappend ::stub::virtual [file join $::stub::projdir $::stub::project.srcs sources_1 bd $name $name.bd]
  return $name
}
::stub::cmd create_bd_cell {
  set vlnv [::stub::opt $args -vlnv]
  set name [lindex [::stub::positional $args {-type -vlnv}] 0]
  if {[dict exists $::stub::cells $name]} { ::stub::fail "cell $name exists" }
  if {![string match xilinx.com:ip:* $vlnv] && [lsearch -exact $::stub::catalog $vlnv] < 0} {
    ::stub::fail "IP $vlnv is not in the IP catalog (ip_repo_paths + update_ip_catalog)"
  }
  dict set ::stub::cells $name $vlnv
  return "/$name"
}
::stub::cmd get_bd_cells {
  set out [list]
  foreach n [::stub::positional $args {-filter -of_objects}] { ::stub::need_cell $n; lappend out "/[string trimleft $n /]" }
  return $out
}
::stub::cmd apply_bd_automation {
  set objs [lindex [::stub::positional $args {-rule -config}] 0]
  if {![llength $objs]} { ::stub::fail "apply_bd_automation on no object" }
  return ""
}
::stub::cmd create_bd_port {
  set name [lindex [::stub::positional $args {-dir -type -freq_hz -from -to}] 0]
  dict set ::stub::ports $name port
  return "/$name"
}
::stub::cmd create_bd_intf_port {
  set name [lindex [::stub::positional $args {-mode -vlnv}] 0]
  dict set ::stub::ports $name intf
  return "/$name"
}
proc ::stub::port_ref {kind argl} {
  set out [list]
  foreach n [positional $argl {-filter -of_objects}] {
    if {![dict exists $::stub::ports $n] || [dict get $::stub::ports $n] ne $kind} { fail "no block-design $kind port $n" }
    lappend out "/$n"
  }
  return $out
}
::stub::cmd get_bd_ports { return [::stub::port_ref port $args] }
::stub::cmd get_bd_intf_ports { return [::stub::port_ref intf $args] }
proc ::stub::pin_ref {argl} {
  set out [list]
  foreach n [positional $argl {-filter -of_objects}] {
    need_cell $n
    if {[llength [split [string trimleft $n /] /]] != 2} { fail "pin '$n' is not CELL/PIN" }
    lappend out "/[string trimleft $n /]"
  }
  return $out
}
::stub::cmd get_bd_pins { return [::stub::pin_ref $args] }
::stub::cmd get_bd_intf_pins { return [::stub::pin_ref $args] }
::stub::cmd get_bd_addr_spaces {
  set n [lindex [::stub::positional $args {}] 0]
  ::stub::need_cell $n
  return "/[string trimleft $n /]"
}
::stub::cmd get_bd_addr_segs {
  set n [lindex [::stub::positional $args {}] 0]
  ::stub::need_cell $n
  return "/[string trimleft $n /]"
}
::stub::cmd connect_bd_intf_net {
  if {[llength [::stub::positional $args {}]] != 2} { ::stub::fail "connect_bd_intf_net wants two interfaces: $args" }
  return ""
}
::stub::cmd connect_bd_net {
  if {[llength [::stub::positional $args {-net}]] < 2} { ::stub::fail "connect_bd_net wants a driver and loads: $args" }
  return ""
}
::stub::cmd assign_bd_address { return "" }
::stub::cmd validate_bd_design { return "" }
::stub::cmd save_bd_design { return "" }
::stub::cmd generate_target {
  set d [file join $::stub::projdir $::stub::project.gen sources_1 bd $::stub::bd hw_handoff]
  file mkdir $d
  close [open [file join $d $::stub::bd.hwh] w]
  return ""
}
::stub::cmd make_wrapper {
  set f [file join $::stub::projdir $::stub::project.gen sources_1 bd $::stub::bd hdl $::stub::bd\_wrapper.v]
  lappend ::stub::virtual $f
  return $f
}

# ---------------------------------------------------------------- runs, reports, export
::stub::cmd get_runs {
  set name [lindex [::stub::positional $args {}] 0]
  if {$name ni {synth_1 impl_1}} { ::stub::fail "no run $name" }
  return $name
}
::stub::cmd launch_runs {
  set run [lindex [::stub::positional $args {-jobs -to_step -next_step}] 0]
  if {$run eq "impl_1" && ![dict exists $::stub::runs synth_1]} { ::stub::fail "impl_1 launched before synth_1" }
  dict set ::stub::runs $run [::stub::opt $args -to_step route_design]
  return $run
}
::stub::cmd wait_on_run {
  set run [lindex [::stub::positional $args {-timeout}] 0]
  if {![dict exists $::stub::runs $run]} { ::stub::fail "wait_on_run $run before launch_runs" }
  if {[dict get $::stub::runs $run] eq "write_bitstream"} {
    set d [file join $::stub::projdir $::stub::project.runs $run]
    file mkdir $d
    close [open [file join $d [dict get $::stub::props sources_1 top].bit] w]
  }
  return ""
}
::stub::cmd open_run {
  set run [lindex [::stub::positional $args {-name}] 0]
  if {![dict exists $::stub::runs $run]} { ::stub::fail "open_run $run: not run" }
  set ::stub::opened $run
  return $run
}
proc ::stub::need_open {what} { if {$::stub::opened eq ""} { fail "$what without an open implemented design" } }
::stub::cmd report_utilization { ::stub::need_open report_utilization; return "" }
::stub::cmd report_timing_summary { ::stub::need_open report_timing_summary; return "" }
::stub::cmd write_hw_platform {
  if {[dict get $::stub::runs impl_1] ne "write_bitstream" && [::stub::has $args -include_bit]} {
    ::stub::fail "write_hw_platform -include_bit before a bitstream"
  }
  close [open [::stub::opt $args -file] w]
  return [::stub::opt $args -file]
}

# ---------------------------------------------------------------- xsct (Vitis classic)
::stub::cmd setws { file mkdir [lindex $args 0]; return "" }
::stub::cmd platform {
  switch -- [lindex $args 0] {
    create {
      set hw [::stub::opt $args -hw]
      if {![string match *.xsa $hw]} { ::stub::fail "platform create -hw $hw: not an XSA" }
      foreach f {-name -proc -os} { if {[::stub::opt $args $f] eq ""} { ::stub::fail "platform create without $f" } }
    }
    generate - write - active {}
    default { ::stub::fail "platform [lindex $args 0]: not modelled" }
  }
  return ""
}
::stub::cmd app {
  switch -- [lindex $args 0] {
    create { foreach f {-name -platform -template} { if {[::stub::opt $args $f] eq ""} { ::stub::fail "app create without $f" } } }
    config - build {}
    default { ::stub::fail "app [lindex $args 0]: not modelled" }
  }
  return ""
}
::stub::cmd importsources {
  set path [::stub::opt $args -path]
  if {![file isdirectory $path]} { ::stub::fail "importsources -path $path: no such folder" }
  return ""
}

set argv0 [lindex $argv 0]
set argv [lrange $argv 1 end]
set argc [llength $argv]
source $argv0
::stub::record stub_end [list] ""
