"""The baseline teams run today: a Flask scoring app in the style of MLflow's pyfunc scoring server.

Parse the JSON body, build a pandas DataFrame from ``dataframe_split`` (as
mlflow.pyfunc.scoring_server does with pd.DataFrame(data, columns=columns)), reorder it to the
model's feature columns, predict, and answer {"predictions": df.to_dict(orient="records")}.

The model is the seattle-weather multinomial logistic regression, evaluated with numpy from
examples/seattle-weather/weights.json: softmax(((x - mean) / std) @ W + b), label = classes[argmax].
This is the same function the ONNX model computes.

Serve like `mlflow models serve` with one worker:
    gunicorn -w 1 -b 127.0.0.1:PORT --chdir bench flask_baseline:app
"""

import json
import os

import numpy as np
import pandas as pd
from flask import Flask, Response, request

_HERE = os.path.dirname(os.path.abspath(__file__))
_WEIGHTS = os.environ.get(
    "BENCH_WEIGHTS", os.path.join(_HERE, "..", "examples", "seattle-weather", "weights.json")
)

with open(_WEIGHTS, encoding="utf-8") as f:
    _w = json.load(f)

FEATURES = list(_w["features"])
CLASSES = np.array(_w["classes"], dtype=object)
MEAN = np.array(_w["mean"], dtype=np.float64)
STD = np.array(_w["std"], dtype=np.float64)
W = np.array(_w["weights"], dtype=np.float64)  # [feature][class]
B = np.array(_w["bias"], dtype=np.float64)


def predict(df: pd.DataFrame) -> pd.DataFrame:
    x = df[FEATURES].to_numpy(dtype=np.float64)
    z = ((x - MEAN) / STD) @ W + B
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    p = e / e.sum(axis=1, keepdims=True)
    return pd.DataFrame({"label": CLASSES[p.argmax(axis=1)], "probabilities": list(p)})


app = Flask(__name__)


@app.route("/ping", methods=["GET"])
@app.route("/health", methods=["GET"])
def ping():
    return Response(response="\n", status=200, mimetype="application/json")


@app.route("/invocations", methods=["POST"])
def invocations():
    try:
        body = json.loads(request.get_data())
        split = body["dataframe_split"]
        df = pd.DataFrame(split["data"], columns=split["columns"])
        df = df[FEATURES]
    except Exception as e:  # noqa: BLE001 - mirror MLflow's BAD_REQUEST answer
        return Response(
            response=json.dumps({"error_code": "BAD_REQUEST", "message": str(e)}),
            status=400,
            mimetype="application/json",
        )
    out = predict(df)
    records = out.to_dict(orient="records")
    for r in records:
        r["probabilities"] = r["probabilities"].tolist()
    return Response(response=json.dumps({"predictions": records}), status=200, mimetype="application/json")
