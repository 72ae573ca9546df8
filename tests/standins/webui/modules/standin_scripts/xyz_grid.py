"""Stand-in of the webui's built-in scripts/xyz_grid.py: AxisOption, axis_options and how one cell is run
(copy p, confirm values, apply each axis, process). Loaded as a script file, so its module is "xyz_grid.py"."""
import csv
from copy import copy
from io import StringIO
from itertools import chain

import modules.scripts as scripts
from modules.processing import process_images


def apply_field(field):
    def fun(p, x, xs):
        setattr(p, field, x)
    return fun


def format_value_add_label(p, opt, x):
    if type(x) == float:
        x = round(x, 8)
    return f"{opt.label}: {x}"


def format_value(p, opt, x):
    return x


def do_nothing(p, x, xs):
    pass


def format_nothing(p, opt, x):
    return ""


class AxisOption:
    def __init__(self, label, type, apply, format_value=format_value_add_label, confirm=None, cost=0.0, choices=None, prepare=None):
        self.label = label
        self.type = type
        self.apply = apply
        self.format_value = format_value
        self.confirm = confirm
        self.cost = cost
        self.prepare = prepare
        self.choices = choices


class AxisOptionImg2Img(AxisOption):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.is_img2img = True


class AxisOptionTxt2Img(AxisOption):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.is_img2img = False


axis_options = [
    AxisOption("Nothing", str, do_nothing, format_value=format_nothing),
    AxisOption("Seed", int, apply_field("seed")),
    AxisOption("Steps", int, apply_field("steps")),
]


def csv_string_to_list_strip(data_str):
    return list(map(str.strip, chain.from_iterable(csv.reader(StringIO(data_str)))))


def process_axis(p, opt, vals):
    """Value text -> typed list, then the axis' confirm (which raises on bad values), as Script.run does."""
    valslist = csv_string_to_list_strip(vals)
    valslist = [opt.type(x) for x in valslist]
    if opt.confirm:
        opt.confirm(p, valslist)
    return valslist


class Script(scripts.Script):
    def title(self):
        return "X/Y/Z plot"

    def run_grid(self, p, x_label, x_values, y_label="Nothing", y_values=""):
        """Run every cell; returns [(x, y, processed, cell_p)]."""
        by_label = {o.label: o for o in axis_options}
        x_opt, y_opt = by_label[x_label], by_label[y_label]
        xs = process_axis(p, x_opt, x_values)
        ys = process_axis(p, y_opt, y_values) if y_label != "Nothing" else [""]
        cells = []
        for y in ys:
            for x in xs:
                pc = copy(p)
                pc.styles = pc.styles[:]
                x_opt.apply(pc, x, xs)
                y_opt.apply(pc, y, ys)
                cells.append((x, y, process_images(pc), pc))
        return cells
