from rnnkit.demo import loss_curve


def test_loss_curve_averages_train_loss_and_keeps_validation(tmp_path):
    rows = ["step,epoch,split,name,value"]
    for step in range(1, 9):
        rows.append(f"{step},0,train,loss,{10 - step}")
        rows.append(f"{step},0,train,lr,0.1")
    rows.append("8,0,val,val_loss,1.5")
    (tmp_path / "metrics.csv").write_text("\n".join(rows) + "\n")
    curve, val = loss_curve(tmp_path / "metrics.csv", points=4)
    assert curve == [(2, 8.5), (4, 6.5), (6, 4.5), (8, 2.5)]
    assert val == [(8, 1.5)]

