package calibrate

// Help is the description of `stirling calibrate` that its --help prints:
// what Run does for each combination of Opts, and where and how it saves.
const Help = `Place the three thermal regions of interest (hot cylinder, cold cylinder,
flame) on the live camera image and save them to the ROI file the agent
watches. Run it once per physical setup (as root on the Pi, so the file gets
the component user as owner).

Frames:
  By default frames come from the running agent's status server
  (--agent, /api/frame), so calibration never fights the agent for the I2C
  bus. When no agent answers, calibrate opens the camera itself (--i2c-bus,
  0x33); --sim uses the simulated camera instead (no hardware needed).
  --source agent|camera|sim forces one.

Web page (the default):
  Serves a page at --listen (default 127.0.0.1:8088): a live heat map with a
  colour scale and the temperature under the cursor, the three regions as
  draggable, resizable rectangles with live mean/min/max, Suggest (places the
  regions from the image: the flame is the hottest compact blob, the hot
  cylinder the warm region next to it, the cold cylinder the cool engine
  region), Reset and Save. With a --listen address other machines can reach
  (e.g. 0.0.0.0:8088, to use a laptop on the LAN), the page needs a one-time
  token: open the URL printed here, which carries ?token=...; the first
  browser to open it gets a session cookie and the link stops working.
  The page answers only to the listen address, localhost, and (on 0.0.0.0)
  this machine's addresses and host name; give other names, such as a DNS
  name or a NAT address, with --allow-host. Stop with Ctrl-C.

Without a browser (a Pi over SSH):
  --terminal            draw the heat map with the regions in the terminal
                        (24-bit colour), refreshed live; --once draws one frame
  --roi NAME=x,y,w,h    set a region (NAME: hot_cylinder, cold_cylinder,
                        flame; repeat the flag) and save, no page
  --suggest             start from the suggested regions and save, no page
  --png FILE            write a snapshot with the regions drawn
  --dry-run             with --roi/--suggest: show, validate, do not save

Regions are pixel rectangles on the 32x24 image: columns x..x+w-1, rows
y..y+h-1. They must lie inside the image and be non-empty; the cylinders
must not overlap, and the flame may overlap the hot cylinder but not the cold
one. Invalid regions are refused with the reason and nothing is written.

Where it saves (never a guessed path):
  --rois FILE           that file;
  otherwise             the file the running agent reads, as it reports it
                        in --agent's /api/status (rois_file);
  no agent answering    the rois_file of --config FILE.
  With none of these, calibrate exits with an error naming --rois and
  --config. The page and the terminal show the file before anything is
  written.

Saving is safe as root in the component's work directory, which the
component user can write to: the directory is opened once without
following a link (only links owned by root or you, in directories of root
or yours, are followed on the way), every directory must belong to root,
you or the file's owner and must not be writable by others unless sticky,
and the file is written to a fresh temporary file, fsynced, given mode 0644
and, when run as root, the owner ggc_user:ggc_group if that user exists
(--owner), then renamed into place. A link at the file's name is replaced,
never followed. The previous file is kept as FILE.bak when it is a regular
file of at most 64 KiB with a single link; anything else is not copied, and
the message says so. The running agent picks the file up without a
restart. Calibrate also prints the Greengrass configuration merge that rolls
the same regions out to other devices.

Examples (on a Greengrass Pi with the agent running; each saves to the
file the agent reads):
  sudo stirling calibrate                                 # page on the Pi (or over ssh -L 8088:127.0.0.1:8088)
  sudo stirling calibrate --listen 0.0.0.0:8088           # page for a laptop on the LAN
  sudo stirling calibrate --terminal                      # heat map in the terminal, saves nothing
  sudo stirling calibrate --suggest --dry-run             # print the suggestion, save nothing
  sudo stirling calibrate --roi flame=5,16,6,6 --roi hot_cylinder=4,6,8,8 --roi cold_cylinder=20,6,8,8
  stirling calibrate --png /tmp/now.png                   # snapshot with the regions drawn
  stirling calibrate --sim --rois /tmp/rois.yaml          # on a laptop, without hardware`
